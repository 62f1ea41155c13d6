// bitloops capture plugin for OpenCode (https://opencode.ai).
//
// Installed by `bitloops enable --agent opencode` into `.opencode/plugin/` (OpenCode loads
// every .js file there at start-up). For each OpenCode bus event worth keeping it runs
// `bitloops hook opencode` with one JSON payload on stdin; bitloops turns it into session
// events (see bitloops/integrations/opencode.py and docs/agents.md).
//
// It never blocks or fails OpenCode: handlers only queue the payload and return; the
// queue runs one child process at a time (so events are recorded in order), drops
// payloads beyond MAX_QUEUE, gives up on a child after CHILD_TIMEOUT_MS and swallows
// every error.
//
// Payload (version 1), one JSON object:
//   {"bitloops_opencode": 1, "hook": "event", "time": <ms since epoch>,
//    "cwd": <plugin directory>, "worktree": <git worktree or null>,
//    "role": "user" | "assistant" | null,   // of the message a part belongs to, if known
//    "event": {"type": "<bus event>", "properties": {...}}}   // as OpenCode published it
//
// The command is `bitloops` on PATH unless BITLOOPS_OPENCODE_COMMAND holds a JSON array
// (for example ["/path/to/python", "-P", "-m", "bitloops"]); an installer may also rewrite the
// DEFAULT_COMMAND line below.

import { spawn } from "node:child_process";

const DEFAULT_COMMAND = ["bitloops"];
const MAX_QUEUE = 1000;
const CHILD_TIMEOUT_MS = 15000;
const PAYLOAD_VERSION = 1;

// Bus events forwarded as they come. Others (session.status, session.updated, session.idle,
// streaming deltas, ...) fire too often to spawn a process each, or say nothing bitloops
// keeps (file.edited repeats what the edit tools' parts say).
const SESSION_EVENTS = new Set([
  "session.created",
  "session.deleted",
  "session.compacted",
  "session.error",
]);
// Part types sent once each (text and reasoning: once complete; tool: once finished, and
// a subagent's task once running too).
const ONCE_PARTS = new Set(["patch", "compaction"]);

function command() {
  try {
    const raw = process.env.BITLOOPS_OPENCODE_COMMAND;
    if (raw) {
      const parsed = JSON.parse(raw);
      if (Array.isArray(parsed) && parsed.length > 0 && parsed.every((p) => typeof p === "string")) {
        return parsed;
      }
    }
  } catch {
    // a malformed override falls back to the default
  }
  return DEFAULT_COMMAND;
}

export const BitloopsCapture = async (ctx) => {
  const cwd = (ctx && (ctx.directory || ctx.worktree)) || process.cwd();
  const worktree = (ctx && ctx.worktree) || null;
  const roles = new Map(); // message id -> "user" | "assistant"
  const sent = new Set(); // keys of parts and messages already forwarded
  const queue = [];
  let running = false;

  function remember(key) {
    if (sent.has(key)) return false;
    if (sent.size > 50000) sent.clear(); // bounded memory; bitloops tolerates repeats
    sent.add(key);
    return true;
  }

  function runOne(text, done) {
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        clearTimeout(timer);
        done();
      }
    };
    const timer = setTimeout(finish, CHILD_TIMEOUT_MS);
    try {
      const [program, ...args] = command();
      const child = spawn(program, [...args, "hook", "opencode"], {
        cwd,
        stdio: ["pipe", "ignore", "ignore"],
        windowsHide: true,
      });
      child.on("error", finish);
      child.on("close", finish);
      child.stdin.on("error", () => {});
      child.stdin.end(text);
    } catch {
      finish();
    }
  }

  function pump() {
    if (running) return;
    const text = queue.shift();
    if (text === undefined) return;
    running = true;
    runOne(text, () => {
      running = false;
      pump();
    });
  }

  function send(event, role) {
    try {
      if (queue.length >= MAX_QUEUE) return;
      const payload = {
        bitloops_opencode: PAYLOAD_VERSION,
        hook: "event",
        time: Date.now(),
        cwd,
        worktree,
        role: role || null,
        event,
      };
      queue.push(JSON.stringify(payload));
      pump();
    } catch {
      // an event that cannot be serialised is dropped, never raised into OpenCode
    }
  }

  function onEvent(event) {
    const type = event && event.type;
    const props = (event && event.properties) || {};
    if (SESSION_EVENTS.has(type)) {
      send(event, null);
      return;
    }
    if (type === "message.updated") {
      const info = props.info || {};
      if (!info.id) return;
      if (info.role) roles.set(info.id, info.role);
      const done = info.role === "user" || (info.time && info.time.completed) || info.error;
      // once when first seen (the model, early) and once complete (tokens, errors)
      if (remember(`message:${info.id}:${done ? "done" : "new"}`)) send(event, info.role);
      return;
    }
    if (type !== "message.part.updated") return;
    const part = props.part || {};
    if (!part.id) return;
    let key = null;
    if (part.type === "text" || part.type === "reasoning") {
      // streaming parts carry time.start until they end; a prompt's parts carry no time
      const complete = part.time ? Boolean(part.time.end) : part.type === "text";
      if (complete || roles.get(part.messageID) === "user") key = `part:${part.id}`;
    } else if (part.type === "tool") {
      const status = part.state && part.state.status;
      // running matters only for a subagent's start; other tools are sent once finished
      if (status === "running" && part.tool === "task") key = `part:${part.id}:running`;
      else if (status === "completed" || status === "error") key = `part:${part.id}:done`;
    } else if (ONCE_PARTS.has(part.type)) {
      key = `part:${part.id}`;
    }
    if (key && remember(key)) {
      // a streaming delta is not needed once the part is complete
      const { delta: _delta, ...rest } = props;
      send({ type, properties: rest }, roles.get(part.messageID));
    }
  }

  return {
    event: async (input) => {
      try {
        onEvent(input && input.event);
      } catch {
        // never fail OpenCode
      }
    },
  };
};
