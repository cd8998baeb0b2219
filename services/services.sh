#!/usr/bin/env bash
# Local development services for bounce-processor, without Docker:
#   Apache Kafka (KRaft, single node) and Apicurio Registry (Confluent-compatible API),
# both run from jars that Maven resolves from Maven Central into services/.cache.
#
#   services.sh fetch    resolve the jars (cached; a second run is instant)
#   services.sh up       start both (idempotent), wait until each really answers
#   services.sh down     stop what this script started
#   services.sh status   say what runs where
#
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# REGISTRY_PORT (8081), REGISTRY_MANAGEMENT_PORT (9001), SERVICES_RUN_DIR (services/.run),
# PYTHON (the interpreter with confluent-kafka, used for the Kafka readiness probe).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="$HERE/.cache"
RUN="${SERVICES_RUN_DIR:-$HERE/.run}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
APICURIO_VERSION="$(sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$HERE/pom.xml")"
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
APICURIO_HOME="$CACHE/apicurio-$APICURIO_VERSION"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-9001}"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$HERE/../.venv/bin/python" ]]; then PYTHON="$HERE/../.venv/bin/python"; else PYTHON=python3; fi
fi
START_TIMEOUT="${SERVICES_START_TIMEOUT:-120}"

log() { printf '[services] %s\n' "$*" >&2; }

fetch() {
  if [[ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" && -f "$APICURIO_HOME/quarkus-run.jar" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the service jars"; exit 1; }
  log "resolving Kafka $KAFKA_VERSION and Apicurio Registry $APICURIO_VERSION from Maven Central (once)"
  # A clean machine downloads ~220 MB; a refused or dropped download is retried (by Maven's
  # HTTP client per request, then by a new run here), and the last run's errors are shown.
  mkdir -p "$RUN/logs"
  local attempt fetch_log="$RUN/logs/fetch.log"
  for attempt in 1 2 3 4; do
    # -U: a download that failed is asked for again (Maven caches failures otherwise).
    if mvn -B -U -Dstyle.color=never -Dmaven.wagon.http.retryHandler.count=3 \
         -f "$HERE/pom.xml" process-resources > "$fetch_log" 2>&1; then
      rm -rf "$HERE/target"
      return 0
    fi
    log "Maven did not resolve the service jars (attempt $attempt of 4):"
    grep -E '^\[(ERROR|WARNING)\] .' "$fetch_log" | head -n 4 >&2 || tail -n 15 "$fetch_log" >&2
    (( attempt < 4 )) && sleep $((attempt * 10))
  done
  log "giving up; the whole Maven output is in $fetch_log"
  exit 1
}

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }

# Apicurio Registry 3.3 is built for Java 21+; Kafka runs on 17+. Pick the first Java that
# is new enough: REGISTRY_JAVA, then JAVA_HOME, the PATH, and the JDKs in /usr/lib/jvm.
registry_java() {
  local candidate
  for candidate in "${REGISTRY_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" \
                   /usr/lib/jvm/*/bin/java; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    if (( $(java_major "$candidate") >= 21 )); then echo "$candidate"; return 0; fi
  done
  log "Apicurio Registry $APICURIO_VERSION needs Java 21 or newer; none found (set REGISTRY_JAVA)"
  exit 1
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

kafka_answers() {
  "$PYTHON" - "$KAFKA_PORT" <<'PY' >/dev/null 2>&1
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "log_level": 0})
md = admin.list_topics(timeout=3)
sys.exit(0 if md.brokers else 1)
PY
}

registry_answers() {
  "$PYTHON" - "$REGISTRY_PORT" <<'PY' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/apis/ccompat/v7/subjects", timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

wait_for() {  # name probe pidfile logfile
  local name="$1" probe="$2" pidfile="$3" logfile="$4" waited=0
  until "$probe"; do
    if ! pid_alive "$pidfile"; then
      log "$name exited during start-up; last lines of $logfile:"; tail -n 30 "$logfile" >&2 || true; exit 1
    fi
    if (( waited >= START_TIMEOUT )); then
      log "$name did not answer within ${START_TIMEOUT}s; see $logfile"; exit 1
    fi
    sleep 1; waited=$((waited + 1))
  done
  log "$name answers (after ${waited}s)"
}

kafka_up() {
  local pidfile="$RUN/kafka.pid" data="$RUN/kafka-data" props="$RUN/kafka.properties"
  if pid_alive "$pidfile" && kafka_answers; then log "Kafka already running on 127.0.0.1:$KAFKA_PORT"; return 0; fi
  if kafka_answers; then log "a Kafka broker already answers on 127.0.0.1:$KAFKA_PORT (not ours); using it"; return 0; fi
  mkdir -p "$RUN/logs" "$data"
  sed -e "s:@KAFKA_PORT@:$KAFKA_PORT:g" -e "s:@CONTROLLER_PORT@:$KAFKA_CONTROLLER_PORT:g" \
      -e "s:@DATA_DIR@:$data:g" "$HERE/kafka/server.properties.template" > "$props"
  local java_opts=(-Xms256m -Xmx1g -Dkafka.logs.dir="$RUN/logs"
                   -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties")
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("$PYTHON" -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
    java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$props" -g >> "$RUN/logs/kafka-format.log" 2>&1
  fi
  log "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT"
  nohup java "${java_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$props" \
    > "$RUN/logs/kafka.out" 2>&1 &
  echo $! > "$pidfile"
  wait_for Kafka kafka_answers "$pidfile" "$RUN/logs/kafka.out"
}

registry_up() {
  local pidfile="$RUN/registry.pid"
  if pid_alive "$pidfile" && registry_answers; then log "registry already running on 127.0.0.1:$REGISTRY_PORT"; return 0; fi
  if registry_answers; then log "a registry already answers on 127.0.0.1:$REGISTRY_PORT (not ours); using it"; return 0; fi
  mkdir -p "$RUN/logs"
  local java; java="$(registry_java)"
  log "starting Apicurio Registry $APICURIO_VERSION on 127.0.0.1:$REGISTRY_PORT"
  # exec: the recorded pid is the JVM itself, so `down` stops the registry, not a shell.
  ( cd "$APICURIO_HOME" && exec nohup "$java" -Xms128m -Xmx768m \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
      -Dquarkus.log.console.json=false \
      -jar quarkus-run.jar ) > "$RUN/logs/registry.log" 2>&1 &
  echo $! > "$pidfile"
  wait_for "Apicurio Registry" registry_answers "$pidfile" "$RUN/logs/registry.log"
}

stop_one() {  # name pidfile
  local name="$1" pidfile="$2"
  if pid_alive "$pidfile"; then
    local pid; pid="$(cat "$pidfile")"
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

status() {
  local k="down" r="down"
  kafka_answers && k="up"; registry_answers && r="up"
  printf 'kafka     %-4s bootstrap 127.0.0.1:%s  (pid %s, logs %s)\n' "$k" "$KAFKA_PORT" \
    "$(cat "$RUN/kafka.pid" 2>/dev/null || echo -)" "$RUN/logs/kafka.log"
  printf 'registry  %-4s http://127.0.0.1:%s/apis/ccompat/v7  (pid %s, logs %s)\n' "$r" "$REGISTRY_PORT" \
    "$(cat "$RUN/registry.pid" 2>/dev/null || echo -)" "$RUN/logs/registry.log"
  [[ "$k" == up && "$r" == up ]]
}

case "${1:-}" in
  fetch) fetch ;;
  up) fetch; mkdir -p "$RUN"; kafka_up; registry_up ;;
  down) stop_one "Apicurio Registry" "$RUN/registry.pid"; stop_one Kafka "$RUN/kafka.pid" ;;
  reset) "$0" down; rm -rf "$RUN/kafka-data" ;;
  status) status ;;
  *) echo "usage: $0 fetch|up|down|status|reset" >&2; exit 2 ;;
esac
