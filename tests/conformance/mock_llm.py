#!/usr/bin/env python3
"""Mock OpenAI-compatible server for dagprof's conformance suite.

  python3 mock_llm.py --port 0 --log FILE

Binds 127.0.0.1 only and prints "LISTENING <port>" on stdout once it accepts
connections. Serves POST /v1/chat/completions (plain and SSE streaming),
POST /v1/embeddings and POST /v1/responses (non-streaming). Behaviour is
steered by directives inside the message texts, see PROTOCOL.md:

  [run:ID]          the request belongs to run ID (logged)
  [fail-once:KEY]   the first request carrying KEY gets HTTP 500
  [delay-ms:N]      answer after N ms
  [tool:NAME]       with `tools` and no tool result yet: answer with a call to NAME
  [cached]          report 32 cached prompt tokens

Usage is deterministic: prompt_tokens = 50 + characters of all message
contents (embeddings: 5 + characters of the inputs), completion_tokens = 20
(0 for embeddings). Every request is appended to the log as one JSON line,
flushed before the answer is sent.
"""

import argparse
import base64
import itertools
import json
import re
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUN_RE = re.compile(r"\[run:([^\]\s]+)\]")
FAIL_RE = re.compile(r"\[fail-once:([^\]\s]+)\]")
DELAY_RE = re.compile(r"\[delay-ms:(\d+)\]")
TOOL_RE = re.compile(r"\[tool:([^\]\s]+)\]")
CACHED = "[cached]"

DATED = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}
CACHED_TOKENS = 32
COMPLETION_TOKENS = 20
EMBED_DIM = 8

_lock = threading.Lock()
_failed_keys = set()
_ids = itertools.count(1)
_log_file = None


def response_model(model):
    return DATED.get(model, model)


def content_text(content):
    """The text of one message's content: a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                for key in ("text", "input_text", "output_text"):
                    if isinstance(part.get(key), str):
                        out.append(part[key])
                        break
        return "".join(out)
    return ""


def chat_texts(body):
    """Every message content of a chat completions request, in order."""
    return [content_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]


def responses_texts(body):
    """Every input text of a responses request (instructions included)."""
    texts = []
    if isinstance(body.get("instructions"), str):
        texts.append(body["instructions"])
    inp = body.get("input")
    if isinstance(inp, str):
        texts.append(inp)
    elif isinstance(inp, list):
        for item in inp:
            if not isinstance(item, dict):
                continue
            if "content" in item:
                texts.append(content_text(item.get("content")))
            elif isinstance(item.get("output"), str):  # function_call_output
                texts.append(item["output"])
    return texts


def embedding_texts(body):
    inp = body.get("input")
    if isinstance(inp, str):
        return [inp]
    if isinstance(inp, list):
        return [x for x in inp if isinstance(x, str)]
    return []


def tool_arguments(body, name):
    """`{"query":"x"}` when the tool declares a `query` parameter, else `{}`."""
    for t in body.get("tools") or []:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        if fn.get("name") == name:
            props = (fn.get("parameters") or {}).get("properties") or {}
            return json.dumps({"query": "x"}) if "query" in props else "{}"
    return "{}"


def log(entry):
    line = json.dumps(entry, sort_keys=True)
    with _lock:
        _log_file.write(line + "\n")
        _log_file.flush()


def first_match(regex, texts):
    for t in texts:
        m = regex.search(t)
        if m:
            return m.group(1)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-llm/1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def _send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_%d" % next(_ids))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "mock"} for m in
                ("gpt-4o-mini", "gpt-4o", "acme-llm-1", "text-embedding-3-small")]})
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self):
        t_start = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "bad JSON", "type": "invalid_request_error"}})
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/chat/completions"):
            endpoint, texts = "chat", chat_texts(body)
        elif path.endswith("/embeddings"):
            endpoint, texts = "embeddings", embedding_texts(body)
        elif path.endswith("/responses"):
            endpoint, texts = "responses", responses_texts(body)
        else:
            self._send_json(404, {"error": {"message": "unknown path %s" % path,
                                            "type": "invalid_request_error"}})
            return

        model = body.get("model") or ""
        run = first_match(RUN_RE, texts)
        delay = first_match(DELAY_RE, texts)
        if delay:
            time.sleep(int(delay) / 1000.0)

        entry = {"run": run, "endpoint": endpoint, "request_model": model,
                 "response_model": None, "status": 500, "prompt_tokens": 0,
                 "completion_tokens": 0, "cached_tokens": 0, "tool_call": None,
                 "stream": bool(body.get("stream")), "t_start": t_start, "t_end": None}

        fail_key = first_match(FAIL_RE, texts)
        if fail_key is not None:
            with _lock:
                first = fail_key not in _failed_keys
                _failed_keys.add(fail_key)
            if first:
                entry["t_end"] = time.time()
                log(entry)
                self._send_json(500, {"error": {
                    "message": "mock: injected failure for %s" % fail_key,
                    "type": "server_error", "param": None, "code": None}})
                return

        all_text = "".join(texts)
        entry["status"] = 200
        entry["response_model"] = response_model(model)
        if endpoint == "embeddings":
            entry["prompt_tokens"] = 5 + len(all_text)
            entry["t_end"] = time.time()
            log(entry)
            self._embeddings(body, model, entry)
            return

        entry["prompt_tokens"] = 50 + len(all_text)
        entry["completion_tokens"] = COMPLETION_TOKENS
        entry["cached_tokens"] = CACHED_TOKENS if CACHED in all_text else 0
        tool = first_match(TOOL_RE, texts)
        if endpoint == "chat":
            has_result = any(isinstance(m, dict) and m.get("role") == "tool"
                             for m in body.get("messages") or [])
        else:
            has_result = any(isinstance(i, dict) and i.get("type") == "function_call_output"
                             for i in body.get("input") or [] if isinstance(body.get("input"), list))
        if tool and body.get("tools") and not has_result:
            entry["tool_call"] = tool
        entry["t_end"] = time.time()
        log(entry)
        if endpoint == "chat":
            if body.get("stream"):
                self._chat_stream(body, entry)
            else:
                self._chat(body, entry)
        else:
            self._responses(body, entry)

    # --- answers ---------------------------------------------------------

    def _usage(self, entry):
        return {"prompt_tokens": entry["prompt_tokens"],
                "completion_tokens": entry["completion_tokens"],
                "total_tokens": entry["prompt_tokens"] + entry["completion_tokens"],
                "prompt_tokens_details": {"cached_tokens": entry["cached_tokens"], "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def _answer_text(self, entry):
        return "mock answer for run %s" % entry["run"]

    def _chat(self, body, entry):
        n = next(_ids)
        if entry["tool_call"]:
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [{
                "id": "call_%d" % n, "type": "function",
                "function": {"name": entry["tool_call"],
                             "arguments": tool_arguments(body, entry["tool_call"])}}]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": self._answer_text(entry), "refusal": None}
            finish = "stop"
        self._send_json(200, {
            "id": "chatcmpl-mock%d" % n, "object": "chat.completion", "created": int(time.time()),
            "model": entry["response_model"], "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": self._usage(entry)})

    def _chat_stream(self, body, entry):
        n = next(_ids)
        base = {"id": "chatcmpl-mock%d" % n, "object": "chat.completion.chunk",
                "created": int(time.time()), "model": entry["response_model"],
                "system_fingerprint": "fp_mock"}
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(choices, usage=None):
            obj = dict(base, choices=choices)
            if want_usage:
                obj["usage"] = usage
            return "data: %s\n\n" % json.dumps(obj)

        out = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
        if entry["tool_call"]:
            out.append(chunk([{"index": 0, "delta": {"tool_calls": [{
                "index": 0, "id": "call_%d" % n, "type": "function",
                "function": {"name": entry["tool_call"], "arguments": ""}}]}, "finish_reason": None}]))
            out.append(chunk([{"index": 0, "delta": {"tool_calls": [{
                "index": 0, "function": {"arguments": tool_arguments(body, entry["tool_call"])}}]},
                "finish_reason": None}]))
            finish = "tool_calls"
        else:
            for word in self._answer_text(entry).split(" "):
                out.append(chunk([{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]))
            finish = "stop"
        out.append(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
        if want_usage:
            out.append(chunk([], self._usage(entry)))
        out.append("data: [DONE]\n\n")
        data = "".join(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _embeddings(self, body, model, entry):
        inputs = embedding_texts(body) or [""]
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vec = [((len(text) + k) % 7) / 7.0 for k in range(EMBED_DIM)]
            emb = base64.b64encode(struct.pack("<%df" % EMBED_DIM, *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        self._send_json(200, {"object": "list", "data": data, "model": entry["response_model"],
                              "usage": {"prompt_tokens": entry["prompt_tokens"],
                                        "total_tokens": entry["prompt_tokens"]}})

    def _responses(self, body, entry):
        n = next(_ids)
        if entry["tool_call"]:
            output = [{"type": "function_call", "id": "fc_%d" % n, "call_id": "call_%d" % n,
                       "name": entry["tool_call"], "status": "completed",
                       "arguments": tool_arguments(body, entry["tool_call"])}]
        else:
            output = [{"type": "message", "id": "msg_%d" % n, "role": "assistant",
                       "status": "completed", "content": [
                           {"type": "output_text", "text": self._answer_text(entry), "annotations": []}]}]
        self._send_json(200, {
            "id": "resp_mock%d" % n, "object": "response", "created_at": int(time.time()),
            "status": "completed", "model": entry["response_model"], "output": output,
            "usage": {"input_tokens": entry["prompt_tokens"], "output_tokens": entry["completion_tokens"],
                      "total_tokens": entry["prompt_tokens"] + entry["completion_tokens"],
                      "input_tokens_details": {"cached_tokens": entry["cached_tokens"]},
                      "output_tokens_details": {"reasoning_tokens": 0}}})


def main():
    global _log_file
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True, help="append one JSON line per request here")
    args = ap.parse_args()
    _log_file = open(args.log, "a", encoding="utf-8")
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        _log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
