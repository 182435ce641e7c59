#include "ui/DejaJson.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>
#include <cmath>
#include <iterator>

namespace deja::ui {

namespace {

// An ISO-8601 UTC time as deja prints it, in Unix seconds; 0 when it does not parse (the
// timeline then falls back to the session's checkpoints).
double unix_seconds(const QString& iso) {
  QDateTime t = QDateTime::fromString(iso, Qt::ISODateWithMs);
  return t.isValid() ? t.toMSecsSinceEpoch() / 1000.0 : 0.0;
}

// Reads typed fields of one array element and keeps the first problem, so a parser reads
// every field without checking after each one and reports the first thing that was wrong.
class Fields {
 public:
  Fields(const QJsonValue& v, const char* what, qsizetype index)
      : object_(v.toObject()), where_(QStringLiteral("%1 %2").arg(what).arg(index)) {
    if (!v.isObject()) fail(QStringLiteral("is not an object"));
  }

  QString text(const char* key) {
    QJsonValue v = get(key);
    if (!v.isString()) return wrong(key, "a string"), QString();
    return v.toString();
  }
  bool has(const char* key) const { return object_.contains(QLatin1String(key)); }
  std::optional<QString> optional_text(const char* key) {
    QJsonValue v = get(key);
    if (v.isNull() || v.isUndefined()) return std::nullopt;
    return text(key);
  }
  double number(const char* key) {
    QJsonValue v = get(key);
    if (!v.isDouble()) return wrong(key, "a number"), 0.0;
    return v.toDouble();
  }
  // JSON numbers arrive as doubles; CRIDs and FSIDs must be whole and non-negative.
  uint64_t id(const char* key) {
    double d = number(key);
    if (ok() && (d < 0 || std::floor(d) != d)) wrong(key, "a whole non-negative number");
    return ok() ? static_cast<uint64_t>(d) : 0;
  }
  std::optional<uint64_t> optional_id(const char* key) {
    QJsonValue v = get(key);
    if (v.isNull() || v.isUndefined()) return std::nullopt;
    return id(key);
  }
  QJsonObject object(const char* key) {
    QJsonValue v = get(key);
    if (!v.isObject()) return wrong(key, "an object"), QJsonObject();
    return v.toObject();
  }

  void fail(const QString& why) {
    if (error_.isEmpty()) error_ = where_ + QLatin1Char(' ') + why;
  }
  bool ok() const { return error_.isEmpty(); }
  const QString& error() const { return error_; }

 private:
  QJsonValue get(const char* key) const { return object_.value(QLatin1String(key)); }
  void wrong(const char* key, const char* expected) {
    fail(QStringLiteral("has no field \"%1\" holding %2").arg(QLatin1String(key), expected));
  }

  QJsonObject object_;
  QString where_;
  QString error_;
};

// The steps of one checkpoint in the order they run (ARCHITECTURE.md, "One checkpoint, with
// little downtime"); parts with other names follow, alphabetically.
int step_rank(const std::string& part) {
  static const char* const kSteps[] = {"sync", "freeze", "capture", "pages", "snapshot", "thaw"};
  for (int i = 0; i < static_cast<int>(std::size(kSteps)); ++i)
    if (part == kSteps[i]) return i;
  return static_cast<int>(std::size(kSteps));
}

// Parses `json` as an array and each element with `one`; stops at the first bad element.
template <typename T, typename One>
Parsed<std::vector<T>> parse_array(const QByteArray& json, const char* what, One one) {
  Parsed<std::vector<T>> out;
  QJsonParseError err;
  QJsonDocument doc = QJsonDocument::fromJson(json, &err);
  if (err.error != QJsonParseError::NoError) {
    out.error = QStringLiteral("unreadable JSON from deja: %1 at offset %2")
                    .arg(err.errorString())
                    .arg(err.offset);
    return out;
  }
  if (!doc.isArray()) {
    out.error = QStringLiteral("deja printed JSON that is not an array of %1s").arg(what);
    return out;
  }
  const QJsonArray array = doc.array();
  for (qsizetype i = 0; i < array.size(); ++i) {
    Fields f(array.at(i), what, i);
    T item = one(f);
    if (!f.ok()) {
      out.value.clear();
      out.error = f.error();
      return out;
    }
    out.value.push_back(std::move(item));
  }
  return out;
}

}  // namespace

Parsed<std::vector<SessionInfo>> parse_sessions(const QByteArray& json) {
  return parse_array<SessionInfo>(json, "session", [](Fields& f) {
    SessionInfo s;
    s.id = f.text("id").toStdString();
    s.name = f.text("name").toStdString();
    s.state = f.text("state").toStdString();
    s.started = f.text("started").toStdString();
    s.started_unix = unix_seconds(QString::fromStdString(s.started));
    // Added after the first browser: older deja builds do not print it.
    s.span_known = f.has("stopped") && s.started_unix > 0;
    if (auto stopped = f.optional_text("stopped")) s.stopped_unix = unix_seconds(*stopped);
    if (auto p = f.optional_text("parent")) s.parent = p->toStdString();
    s.parent_crid = f.optional_id("parent_crid");
    s.checkpoint_count = static_cast<int64_t>(f.id("checkpoints"));
    return s;
  });
}

Parsed<std::vector<Checkpoint>> parse_checkpoints(const QByteArray& json) {
  return parse_array<Checkpoint>(json, "checkpoint", [](Fields& f) {
    Checkpoint c;
    c.crid = f.id("crid");
    c.t = f.number("t");
    c.time = f.text("time").toStdString();
    c.fsid = f.id("fsid");
    c.image_bytes = static_cast<int64_t>(f.id("image_bytes"));
    c.pages_written = static_cast<int64_t>(f.id("pages_written"));
    c.downtime_ms = f.number("downtime_ms");
    const QJsonObject parts = f.object("downtime_parts");
    for (auto it = parts.begin(); it != parts.end(); ++it) {
      if (!it.value().isDouble()) {
        f.fail(QStringLiteral("has a non-numeric downtime part \"%1\"").arg(it.key()));
        break;
      }
      c.downtime_parts.emplace_back(it.key().toStdString(), it.value().toDouble());
    }
    // QJsonObject forgets the printed order (it sorts keys); put the parts back in the order
    // a checkpoint runs them, so a reader sees where the time went step by step.
    std::stable_sort(
        c.downtime_parts.begin(), c.downtime_parts.end(),
        [](const auto& a, const auto& b) { return step_rank(a.first) < step_rank(b.first); });
    return c;
  });
}

Parsed<std::vector<SearchHit>> parse_search_hits(const QByteArray& json) {
  return parse_array<SearchHit>(json, "search hit", [](Fields& f) {
    SearchHit h;
    h.session = f.text("session");
    h.t = f.number("t");
    h.time = f.text("time");
    h.text = f.text("text");
    h.box = QRect(static_cast<int>(f.number("x")), static_cast<int>(f.number("y")),
                  static_cast<int>(f.number("w")), static_cast<int>(f.number("h")));
    return h;
  });
}

}  // namespace deja::ui
