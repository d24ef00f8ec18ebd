#!/usr/bin/env bash
# Try connected-chats in Microsoft 365 Agents Playground, offline: starts the service (local mode: no MicrosoftAppId,
# the demo directory, SQLite under data/) and the Playground, both on 127.0.0.1 only; open the URL it prints.
# Ctrl+C stops both. Needs Python (the project's venv active) and Node.js 20 with npm.
# Environment: PORT (bot, default 3978), PLAYGROUND_PORT (default 56150), DATABASE_URL,
# PLAYGROUND_CACHE (where the npm package is installed, default tests/.playground).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BOT_PORT=${PORT:-3978}
PG_PORT=${PLAYGROUND_PORT:-56150}
VERSION=0.2.28
CACHE=${PLAYGROUND_CACHE:-$ROOT/tests/.playground}
PKG=$CACHE/node_modules/@microsoft/m365agentsplayground
PYTHON=${PYTHON:-python}

if [ "$(node -p "try { require('$PKG/package.json').version } catch { '' }")" != "$VERSION" ]; then
  npm install --prefix "$CACHE" --no-save --no-package-lock --no-audit --no-fund \
    "@microsoft/m365agentsplayground@$VERSION"
fi

cd "$ROOT"
mkdir -p data/playground
MicrosoftAppId= GRAPH_AUTH=${GRAPH_AUTH:-none} HOST=127.0.0.1 PORT=$BOT_PORT \
  DATABASE_URL=${DATABASE_URL:-sqlite:///data/playground.db} "$PYTHON" app.py &
BOT_PID=$!
trap 'kill "$BOT_PID" 2>/dev/null || true' EXIT INT TERM

# The Playground's first call waits only about 15 s for the bot, so start it once the bot answers.
"$PYTHON" - "$BOT_PORT" <<'EOF'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
for _ in range(120):
    try:
        urllib.request.urlopen(url, timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.5)
sys.exit(f"the bot did not answer on {url}")
EOF

echo "Agents Playground: http://127.0.0.1:$PG_PORT/  (bot: http://127.0.0.1:$BOT_PORT/api/messages)"
# Run from data/playground (it writes devTools/ logs there); the mock tenant comes from the repository's
# .m365agentsplayground.yml. scripts/loopback.cjs keeps it on 127.0.0.1: by itself it listens on every interface.
cd data/playground
M365_AGENTS_PLAYGROUND_CONFIG_PATH="$ROOT/.m365agentsplayground.yml" TEAMSAPPTESTER_BROWSER=none \
  BOT_ENDPOINT="http://127.0.0.1:$BOT_PORT/api/messages" \
  node -r "$ROOT/scripts/loopback.cjs" "$PKG/cli.js" --port "$PG_PORT" --channel-id msteams \
  --service-url "http://127.0.0.1:$PG_PORT/_connector" --disable-telemetry
