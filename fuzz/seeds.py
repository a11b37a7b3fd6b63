#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, from what the bot really reads.

Sources: the recorded exchanges with a real Semaphore 2.10.32 (`--recordings`, by default the
repository's copy in testdata/semaphore/2.10.32), the examples of docs/commands.md, the
configuration examples of docs/*.md and of the app's tests, and a few hand-written inputs.

    fuzz/seeds.py --out DIR            every seed, DIR/<target>/<name> (what scripts/fuzz.sh adds
                                       to each run; not committed)
    fuzz/seeds.py --committed          the small selection kept in git, fuzz/corpus/<target>/

Each input is written in the shape its target reads (see the target's header comment).
"""

import argparse
import hashlib
import json
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What the committed selection keeps per target, at most, and the largest file it keeps.
COMMITTED_PER_TARGET = 24
COMMITTED_MAX_BYTES = 8192


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def generic(path):
    path = path.split("?")[0].rstrip("/")
    return "/".join("n" if p.isdigit() else p for p in path.split("/")).strip("/").replace("/", "-")


class Seeds:
    def __init__(self):
        self.by_target = defaultdict(dict)

    def add(self, target, name, data, keep=False):
        """`keep`: part of the committed selection whatever else there is."""
        if isinstance(data, str):
            data = data.encode()
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:80] or "seed"
        seen = self.by_target[target]
        if any(d == data for d, _ in seen.values()):
            return
        base, n = name, 1
        while name in seen:
            n += 1
            name = f"{base}-{n}"
        seen[name] = (data, keep)


def recordings(seeds, directory):
    files = sorted(f for f in os.listdir(directory) if f.endswith(".json"))
    for file in files:
        with open(os.path.join(directory, file), encoding="utf-8") as f:
            doc = json.load(f)
        scenario = file[: -len(".json")]
        if scenario == "alerts":
            for i, alert in enumerate(doc.get("received", [])):
                raw = alert.get("raw") if isinstance(alert, dict) else None
                if isinstance(raw, str):
                    shape = alert.get("path", "").rstrip("/").split("/")[-1] or "alert"
                    seeds.add("semaphore_alert", f"{shape}-{i}", raw, keep=i < 12)
            continue
        for i, exchange in enumerate(doc.get("exchanges", [])):
            request, response = exchange.get("request", {}), exchange.get("response", {})
            route = f"{request.get('method', '')}-{generic(request.get('path', ''))}"
            name = f"{scenario}-{route}"
            if response.get("body_kind") == "json":
                body = response.get("body")
                text = compact(body)
                seeds.add("semaphore_wire", name, text, keep=True)
                if isinstance(body, list):
                    seeds.add("semaphore_list", name, b"\x07" + text.encode(), keep=True)
                if route.endswith("-output") and isinstance(body, list):
                    lines = [e.get("output") or "" for e in body if isinstance(e, dict)]
                    seeds.add("task_log", name, "\0".join(lines), keep=True)
                    log = "\n".join(lines)
                    seeds.add("ansi_render", name, log, keep=True)
                    seeds.add("log_render", name, b"\x00" + log.encode(), keep=True)
                    seeds.add("log_render", name + "-flat", b"\x01" + log.encode())
                    seeds.add("redact", name, "<token>\tp@ss/word!\n" + log, keep=True)
                if route.endswith("-schedules") and isinstance(body, list):
                    for s in body:
                        if isinstance(s, dict) and s.get("cron_format"):
                            seeds.add("cron", f"{name}-{s.get('id')}", "\x00UTC\n" + s["cron_format"], keep=True)
                templates = body if isinstance(body, list) else [body]
                for t in templates:
                    if isinstance(t, dict) and t.get("survey_vars"):
                        values = "42\n-7\n 4.2 \nprod\nStaging\n2\n\nsecret value\n"
                        seeds.add("survey", f"{name}-{t.get('id')}", compact(t) + "\n" + values, keep=True)
            elif response.get("body_kind") == "text" and isinstance(response.get("body"), str):
                seeds.add("redact", name, "\n" + response["body"])
        for i, frame in enumerate(doc.get("websocket", [])):
            if "message" in frame:
                message = frame["message"]
                kind = message.get("type", "frame") if isinstance(message, dict) else "frame"
                seeds.add("semaphore_frame", f"{scenario}-{kind}", compact(message), keep=i < 3)


def commands(seeds):
    with open(os.path.join(ROOT, "docs", "commands.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("    !cd "):
                text = line.strip()
                seeds.add("command_parser", text[4:], text, keep=len(seeds.by_target["command_parser"]) < 20)


def configs(seeds):
    """Configuration files: the app's tests' and the documentation's examples, made whole."""
    base = (
        '{\n  matrix: { homeserver: "https://matrix.example.org", user_id: "@bot:example.org", password: "pw" },\n'
        '  semaphore: { url: "https://semaphore.example.org", api_token: "tok" },\n'
        '  bot: { admin_users: ["@alice:example.org"] },\n}\n'
    )
    found = []
    for file in ["config.rs", "migrate_config.rs", "webhook_config.rs", "access_config.rs"]:
        with open(os.path.join(ROOT, "app", "src", file), encoding="utf-8") as f:
            for raw in re.findall(r'r#"(.*?)"#', f.read(), re.S):
                raw = raw.replace("{{", "{").replace("}}", "}")
                if raw.lstrip().startswith("{") and "matrix" in raw:
                    found.append((file[: -len(".rs")], raw))
    for doc in ["configuration.md", "webhooks.md", "permissions.md"]:
        with open(os.path.join(ROOT, "docs", doc), encoding="utf-8") as f:
            blocks = re.findall(r"```(?:json|hjson)\n(.*?)```", f.read(), re.S)
        for i, block in enumerate(blocks):
            if block.lstrip().startswith("{"):
                continue
            body = block.strip().rstrip(",")
            if body.startswith('"hooks"'):
                body = '"webhooks": { "listen": "127.0.0.1:8088", ' + body + " }"
            elif body.startswith("template:"):
                continue
            # The example's keys replace the base's, or sit beside them.
            whole = base.rstrip().rstrip("}") + "  " + body + "\n}\n"
            if body.startswith(("bot:", '"bot"')):
                whole = base.replace('  bot: { admin_users: ["@alice:example.org"] },\n', "  " + body + ",\n")
            if body.startswith(("default_instance", "semaphore_instances")):
                whole = whole.replace('  semaphore: { url: "https://semaphore.example.org", api_token: "tok" },\n', "")
            found.append((f"{doc[: -len('.md')]}-{i}", whole))
    found.append(("base", base))
    for name, text in found:
        seeds.add("config", name, b"\x00" + text.encode(), keep=True)
        seeds.add("config", name + "-env", b"\x01" + text.encode())
        seeds.add("config_migrate", name, text, keep=True)


def hand_written(seeds):
    for name, text in {
        "table": '{"deploy-prod": "run 1 5", "dw": "!cd run prod:ops:deploy-web --tags=web", "st": "status"}',
        "chatrixcd": '{\n  "dp": "run 1 5 --var env=prod",\n  "logs-last": "logs last"\n}\n',
        "reserved": '{"run": "status", "x y": "help", "loop": "loop", "empty": ""}',
        "empty": "",
    }.items():
        seeds.add("aliases_file", name, text, keep=True)
    for name, text in {
        "braces": "{\n  greetings: [\"Hello **{name}**!\", \"Hi {name}, {unknown} stays\"]\n}\n",
        "rootless": "brush_off: [\n  '''\n  Not now, **{name}**\n  '''\n]\n# a comment\nunknown: [1]\n",
        "kinds": '{"greetings": "not a list", "brush_off": [1, true, null, "**bold** and **open"], "pet": []}',
        "stars": '{"task_started": ["**{task_name}** started by **{name}", "***", "{name}**{name}**"]}',
    }.items():
        seeds.add("personality", name, text, keep=True)
    token = "kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu="
    for name, text in {
        "shapes": "hunter2hunter2\tp@ss/word!\"\nAuthorization: Bearer abcdef123456\npassword=hunter2hunter2 "
        "url=https://u:p%40ss@host/ ghp_abcdefghijklmnopqrstuvwxyz0123456789\n" + token + "\n",
        "pem": "\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV0123\n"
        "-----END RSA PRIVATE KEY----- done\n",
        "mark": "D]abcdef\t]]]]]]\t[[[[[[\nabcdefD]abcdef [REDACTED]abcdef ]]]]]]]]]]]]",
        "colours": "\n\x1b[0;33mghp_abcdefghijklmnopqrstuvwxyz0123456789\x1b[0m token=\x1b[32msecretvalue1\n",
        "json": 'p@ss/word!"\n{"pw":"p@ss/word!\\"","x":"p%40ss%2Fword%21%22"}\n',
    }.items():
        seeds.add("redact", name, text, keep=True)
    for name, text in {
        "daily": "\x00Europe/Berlin\n30 2 * * *",
        "spring": "\x01Europe/Berlin\n30 2 * * *",
        "fall": "\x02Europe/Berlin\n*/15 * * * *",
        "leap": "\x05UTC\n0 0 29 2 *",
        "never": "\x00UTC\n0 0 30 2 *",
        "shortcut": "\x00america/new_york\n@weekly",
        "seconds": "\x80UTC\n*/5 * * * * *",
        "typo": "\x00Europe/Berln\n0 25 * * *",
        "ranges": "\x03America/New_York\n0-59/7 1,13 1-7 */2 MON-FRI",
    }.items():
        seeds.add("cron", name, text, keep=True)
    for name, text in {
        "mine": "\x00me failed week",
        "user": "\x05@bob:example.org success today",
        "dates": "\x06\n2026-11-01\n2026-11-30",
        "times": "\x0b running\n2026-03-29T01:30:00+01:00\n2026-03-29T03:30:00Z",
        "clash": "\x00me @bob:example.org today month",
        "typo": "\x00faild",
        "preset": "\x00deploy-web_2",
        "empty-range": "\x01\n2026-11-02\n2026-11-01",
    }.items():
        seeds.add("command_values", name, text, keep=True)
    survey_template = {
        "id": 8, "name": "hello-args", "survey_vars": [
            {"name": "who", "title": "Who", "type": "", "required": True},
            {"name": "count", "type": "int", "default_value": 3},
            {"name": "env", "type": "enum", "values": [{"name": "Production", "value": "prod"}, {"name": "2", "value": "two"}]},
            {"name": "token", "type": "secret", "default_value": ["a", "b"]},
        ],
    }
    seeds.add("survey", "every-type", compact(survey_template) + "\n42\n 7 \n9223372036854775808\nprod\n2\n1\nPRODUCTION\n\n", keep=True)
    for name, text in {
        "qualified": "prod:ops:deploy-web",
        "numbers": "staging:1:5",
        "scope": "prod:ops:deploy-*",
        "user": "@alice:example.org",
        "room": "!ops:example.org",
        "opaque-room": "!abcdefghijklmnop",
        "instance": "production_2",
        "until-day": "2026-12-31",
        "until-time": "2026-12-31T08:00:00+02:00",
    }.items():
        seeds.add("references", name, text, keep=True)
    for name, text in {
        "weekdays": "Mon-Fri 08:00-18:00 Europe/Berlin",
        "weekend": "Sat,Sun",
        "overnight": "22:00-06:00 UTC",
    }.items():
        seeds.add("windows", name, text, keep=True)
    for name, text in {
        "update": '{"type":"update","task_id":2147483646,"project_id":1,"template_id":3,"status":"running","start":"2026-11-25T01:45:04.680913135Z","end":null}',
        "log": '{"type":"log","task_id":5,"project_id":1,"time":"0001-01-01T00:00:00Z","output":"\\u001b[0;32mok: [localhost]\\u001b[0m"}',
        "unknown": '{"type":"ping"}',
    }.items():
        seeds.add("semaphore_frame", name, text, keep=True)
    for name, text in {
        "zero-times": '[{"id":5,"status":"waiting","created":"0001-01-01T00:00:00Z","start":null,"message":""}]',
        "info": '{"version":"v2.16.14","ansible":"2.19","runners":[1]}',
        "schedule": '[{"id":1,"template_id":2,"cron_format":"0 2 * * *","type":"run_at","run_at":"2026-01-01T00:00:00Z","repository_id":0}]',
        "template": '[{"id":9,"arguments":"[\\"--tags=web\\"]","task_params":{"allow_debug":true},"survey_vars":[{"type":"enum","values":[{}]}]},{"id":2}]',
        "output": '[{"output":"line one\\nline two\\r\\n"},{"output":null},{}]',
    }.items():
        seeds.add("semaphore_wire", name, text, keep=True)


def generate(recording_dir):
    seeds = Seeds()
    hand_written(seeds)
    recordings(seeds, recording_dir)
    commands(seeds)
    configs(seeds)
    return seeds


def write(directory, target, name, data):
    path = os.path.join(directory, target)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", default=os.path.join(ROOT, "testdata", "semaphore", "2.10.32"))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="write every seed under this directory")
    where.add_argument("--committed", action="store_true", help="write the committed selection into fuzz/corpus")
    args = parser.parse_args()
    seeds = generate(args.recordings)
    total = 0
    for target, named in sorted(seeds.by_target.items()):
        if args.out:
            chosen = [(n, d) for n, (d, _) in named.items()]
            directory = args.out
        else:
            small = [(n, d) for n, (d, keep) in named.items() if keep and len(d) <= COMMITTED_MAX_BYTES]
            # The smallest of each kind first: a few dozen small files, varied.
            small.sort(key=lambda nd: (len(nd[1]) > 2048, hashlib.sha1(nd[1]).hexdigest()))
            chosen = small[:COMMITTED_PER_TARGET]
            directory = os.path.join(ROOT, "fuzz", "corpus")
        for name, data in chosen:
            write(directory, target, name, data)
        total += len(chosen)
    print(f"{total} seeds for {len(seeds.by_target)} targets", file=sys.stderr)


if __name__ == "__main__":
    main()
