#!/usr/bin/env bash
# `make run`: the Temporal dev server (persisted in var/temporal.db), the worker, the
# collectors' desk (web) and the demo portfolio with simulated borrowers, every payload
# encrypted (the key in var/encryption.keys); the desk also serves the codec server on /codec,
# so the UI shows them in clear text. A simulated hosted checkout (no money moves) takes the
# borrowers' payments and tells the desk by its signed webhook. Ctrl-C stops everything; running it again resumes the
# persisted cases instead of opening them twice.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var

server_pid=""
worker_pid=""
web_pid=""
checkout_pid=""
stop_all() {
    # A second Ctrl-C while stopping must not leave the server and the desk running.
    trap '' INT TERM
    trap - EXIT
    echo
    echo "stopping: worker, desk, simulated checkout, then Temporal server"
    # Background jobs of a script ignore Ctrl-C, so they are stopped explicitly.
    [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
    [ -n "$web_pid" ] && kill -TERM "$web_pid" 2>/dev/null && wait "$web_pid" 2>/dev/null
    [ -n "$checkout_pid" ] && kill -TERM "$checkout_pid" 2>/dev/null && wait "$checkout_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    echo "stopped"
}
# Ctrl-C or a TERM ends the script after stopping everything: without the `exit`, bash would
# carry on with the line after the command it interrupted.
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

# Encryption of payloads: the keys the environment gives, else this machine's own key,
# made once (readable by this user only). `make reset` forgets it with the cases it
# encrypted; without it those cases could not be read.
key_source=COLLECTIONS_ENCRYPTION_KEYS
if [ -z "${COLLECTIONS_ENCRYPTION_KEYS:-}" ]; then
    key_source=var/encryption.keys
    if [ ! -s var/encryption.keys ]; then
        (umask 077 && "$BIN/python" -c \
            'import datetime; from runtime import encryption; print(encryption.new_key_entry("local-" + datetime.date.today().strftime("%Y%m%d")))' \
            >var/encryption.keys)
        echo "made an encryption key: var/encryption.keys"
    fi
    COLLECTIONS_ENCRYPTION_KEYS=$(cat var/encryption.keys)
fi
export COLLECTIONS_ENCRYPTION_KEYS
portal_url=${PORTAL_BASE_URL:-http://127.0.0.1:8000}
# The desk (started below) serves the codec server on /codec with these keys. The dev server's
# UI has no login, so it has no access token to pass on: locally the codec relies on the desk
# listening on loopback only and answering the UI's origin only.
export CODEC_SERVER_CORS_ORIGINS=${CODEC_SERVER_CORS_ORIGINS:-http://localhost:8233,http://127.0.0.1:8233}
web_port=${WEB_PORT:-8000}
export WEB_PORT=$web_port
web_url="http://127.0.0.1:$web_port"
codec_url="$web_url/codec"

if "$BIN/temporal" operator cluster health --address localhost:7233 >/dev/null 2>&1; then
    echo "a Temporal server already listens on localhost:7233; using it"
    echo "(its UI shows payloads in clear text once its codec server setting is $codec_url)"
else
    search_attributes=$("$BIN/python" -c \
        'from workflows.search_attributes import CLI_TYPES as t; print(" ".join(f"--search-attribute {k}={v}" for k, v in t.items()))')
    server_settings=$("$BIN/python" -c 'from runtime import settings; print(" ".join(settings.DEV_SERVER_ARGS))')
    # shellcheck disable=SC2086
    "$BIN/temporal" server start-dev \
        --db-filename var/temporal.db --port 7233 --ui-port 8233 --http-port 7243 \
        --ui-codec-endpoint "$codec_url" \
        --log-level warn $server_settings $search_attributes >var/temporal.log 2>&1 &
    server_pid=$!
    for _ in $(seq 1 60); do
        "$BIN/temporal" operator cluster health --address localhost:7233 >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { echo "Temporal server failed; see var/temporal.log"; exit 1; }
        sleep 1
    done
fi

"$BIN/python" starter.py migrate
"$BIN/python" worker.py >>var/worker.log 2>&1 &
worker_pid=$!

# The collectors' desk: its cookie-signing secret made once, like the encryption key, so a
# restart keeps everyone signed in; the demo users made once, their passwords in a file only
# this user can read.
if [ -z "${WEB_SESSION_SECRET:-}" ]; then
    if [ ! -s var/web-session.secret ]; then
        (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))' \
            >var/web-session.secret)
    fi
    WEB_SESSION_SECRET=$(cat var/web-session.secret)
fi
export WEB_SESSION_SECRET
if [ ! -s var/desk-users.txt ]; then
    (
        umask 077
        : >var/desk-users.txt.new
        for user in agent1:agent agent2:agent field1:field field2:field super1:supervisor; do
            name=${user%%:*}
            password=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(12))')
            # A user made by an earlier run whose file was deleted gets a new password.
            { echo "$password" | "$BIN/python" starter.py desk-user add "$name" --role "${user#*:}" \
                || echo "$password" | "$BIN/python" starter.py desk-user add "$name" --reset; } \
                >/dev/null 2>&1
            echo "$name ${user#*:} $password" >>var/desk-users.txt.new
        done
        mv var/desk-users.txt.new var/desk-users.txt
    )
    echo "made the demo's desk users: var/desk-users.txt"
fi
# The simulated checkout and the desk share a made-up secret pair, new each run (the simulator
# keeps its sessions in memory only): the desk creates sessions with the key and checks the
# simulator's webhook events with the other. Set after the worker started: only these two
# read them.
checkout_port=${CHECKOUT_SIMULATOR_PORT:-8090}
export CHECKOUT_SIMULATOR_PORT=$checkout_port
export CHECKOUT_BASE_URL="http://127.0.0.1:$checkout_port"
CHECKOUT_SECRET_KEY="sk_test_$("$BIN/python" -c 'import secrets; print(secrets.token_hex(16))')"
CHECKOUT_WEBHOOK_SECRET="whsec_$("$BIN/python" -c 'import secrets; print(secrets.token_hex(16))')"
export CHECKOUT_SECRET_KEY CHECKOUT_WEBHOOK_SECRET
export CHECKOUT_WEBHOOK_URL="$web_url/checkout/webhook"
"$BIN/python" starter.py checkout-simulator >>var/checkout.log 2>&1 &
checkout_pid=$!
"$BIN/python" starter.py web >>var/web.log 2>&1 &
web_pid=$!
for _ in $(seq 1 30); do
    (exec 3<>"/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && break
    kill -0 "$web_pid" 2>/dev/null || { echo "the desk failed; see var/web.log"; exit 1; }
    sleep 0.5
done
for _ in $(seq 1 30); do
    (exec 3<>"/dev/tcp/127.0.0.1/$checkout_port") 2>/dev/null && break
    kill -0 "$checkout_pid" 2>/dev/null || { echo "the simulated checkout failed; see var/checkout.log"; exit 1; }
    sleep 0.5
done

cat <<BANNER

  Temporal UI:   http://localhost:8233   (cases are workflows named collection-<loan id>)
  HTTP API:      http://localhost:7243   gRPC: localhost:7233
  Desk:          $web_url/login   sign in as agent1 (calls), field1 (visits) or super1,
                 passwords in var/desk-users.txt (cat var/desk-users.txt)
  Portal:        $portal_url/p/<token> (PORTAL_BASE_URL); a link: starter.py portal-link LOAN_ID
  Encryption:    keys from $key_source; codec server $codec_url (on the desk)
  Checkout:      $CHECKOUT_BASE_URL   a SIMULATED hosted checkout (no money moves); its signed
                 events reach the desk's $web_url/checkout/webhook
  Logs:          var/worker.log, var/temporal.log, var/web.log, var/checkout.log
  Try:           .venv/bin/python starter.py list --stage legal
  Ctrl-C stops everything; \`make run\` again resumes the same cases.

BANNER
"$BIN/python" starter.py demo
# Every simulated case has ended (paid or written off); the cases left to the desk wait for
# people: keep the UI and the desk up until Ctrl-C.
echo "every simulated demo case has ended; the UI and the desk stay up until Ctrl-C (make reset for a fresh demo)"
wait "$worker_pid"
