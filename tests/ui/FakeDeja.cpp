#include "FakeDeja.h"

#include <QFile>

namespace deja::ui::test {

namespace {

// Called as: deja --store DIR COMMAND ARGS...; each answer comes from a file in DIR.
const char kScript[] = R"SH(#!/bin/sh
store="$2"; shift 2
echo "$*" >> "$store/calls"
echo "$$" >> "$store/pids"
# Short sleeps, so a killed script leaves no long sleep behind.
if [ -f "$store/delay" ]; then
  n=$(( $(cat "$store/delay") * 10 )); while [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
  echo "$*" >> "$store/waited"
fi
fail() { echo "deja: $1" >&2; exit 1; }
case "$1" in
  sessions) cat "$store/sessions.json" ;;
  checkpoints) [ -f "$store/checkpoints-$2.json" ] || fail "unknown session '$2'"
               cat "$store/checkpoints-$2.json" ;;
  search) [ -f "$store/search.json" ] || fail "unknown command 'search' (see deja --help)"
          cat "$store/search.json" ;;
  frame) [ -f "$store/frame.png" ] || fail "unknown command 'frame' (see deja --help)"
         cp "$store/frame.png" "$4" ;;
  revive) [ -f "$store/revive-id" ] || fail "unknown command 'revive' (see deja --help)"
          cp "$store/sessions-after.json" "$store/sessions.json"; cat "$store/revive-id" ;;
  stop) [ -f "$store/sessions-stopped.json" ] || fail "session $2 is already stopped"
        cp "$store/sessions-stopped.json" "$store/sessions.json" ;;
  *) fail "unknown command '$1' (see deja --help)" ;;
esac
)SH";

}  // namespace

FakeDeja::FakeDeja() {
  write(QStringLiteral("deja"), kScript);
  QFile::setPermissions(program(), QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
  set_sessions("[]");
}

QString FakeDeja::program() const {
  return dir_.filePath(QStringLiteral("deja"));
}
QString FakeDeja::store() const {
  return dir_.path();
}

void FakeDeja::write(const QString& name, const QByteArray& data) const {
  QFile f(dir_.filePath(name));
  if (f.open(QIODevice::WriteOnly | QIODevice::Truncate)) f.write(data);
}

void FakeDeja::set_sessions(const QByteArray& json) {
  write(QStringLiteral("sessions.json"), json);
}
void FakeDeja::set_checkpoints(const QString& id, const QByteArray& json) {
  write(QStringLiteral("checkpoints-%1.json").arg(id), json);
}
void FakeDeja::set_search(const QByteArray& json) {
  write(QStringLiteral("search.json"), json);
}
void FakeDeja::set_frame(const QByteArray& png) {
  write(QStringLiteral("frame.png"), png);
}
void FakeDeja::set_revive(const QString& id, const QByteArray& sessions_after) {
  write(QStringLiteral("sessions-after.json"), sessions_after);
  write(QStringLiteral("revive-id"), id.toUtf8() + "\n");
}

void FakeDeja::set_stop(const QByteArray& sessions_after) {
  write(QStringLiteral("sessions-stopped.json"), sessions_after);
}

void FakeDeja::set_delay(int seconds) {
  write(QStringLiteral("delay"), QByteArray::number(seconds));
}

QStringList FakeDeja::lines(const QString& name) const {
  QFile f(dir_.filePath(name));
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

QStringList FakeDeja::calls() const {
  return lines(QStringLiteral("calls"));
}

QStringList FakeDeja::waited() const {
  return lines(QStringLiteral("waited"));
}

QList<qint64> FakeDeja::pids() const {
  QList<qint64> out;
  for (const QString& p : lines(QStringLiteral("pids"))) out.append(p.toLongLong());
  return out;
}

}  // namespace deja::ui::test
