#include "display/TextRecognizer.h"

#include <tesseract/baseapi.h>
#include <tesseract/resultiterator.h>

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "base/Error.h"

namespace deja::display {
namespace {

// Terminal and UI fonts are 10-15 px tall, below the 20-30 px Tesseract's models were
// trained on; doubling the size (pixel replication; Tesseract binarises afterwards) makes
// xterm's default 6x13 font readable, and tripling it costs twice the time for no gain.
constexpr int kScale = 2;
constexpr float kMinConfidence = 50;

// Grey levels of `region`, enlarged kScale times, as 8-bit rows.
std::vector<uint8_t> grey_scaled(const Frame& frame, const Rect& r) {
  const int w = r.w * kScale;
  std::vector<uint8_t> out(size_t(w) * size_t(r.h) * kScale);
  for (int y = 0; y < r.h; ++y) {
    const uint8_t* s = frame.row(r.y + y) + size_t(r.x) * 4;
    uint8_t* d = out.data() + size_t(y) * kScale * size_t(w);
    for (int x = 0; x < r.w; ++x, s += 4) {
      // ITU-R BT.601 luma, in integers: B, G, R weights 29, 150, 77 (sum 256).
      auto g = static_cast<uint8_t>((s[0] * 29 + s[1] * 150 + s[2] * 77) >> 8);
      std::fill_n(d + size_t(x) * kScale, kScale, g);
    }
    for (int k = 1; k < kScale; ++k) std::copy_n(d, w, d + size_t(k) * size_t(w));
  }
  return out;
}

std::string trimmed(const char* s) {
  std::string t = s ? s : "";
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  t.erase(t.begin(), std::find_if(t.begin(), t.end(), not_space));
  t.erase(std::find_if(t.rbegin(), t.rend(), not_space).base(), t.end());
  return t;
}

bool has_alnum(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c); });
}

}  // namespace

TextRecognizer::TextRecognizer() : api_(std::make_unique<tesseract::TessBaseAPI>()) {
  if (api_->Init(nullptr, "eng", tesseract::OEM_LSTM_ONLY) != 0)
    throw Error("load Tesseract's English model: is tesseract-ocr-eng installed?");
  // Automatic layout keeps the words of a terminal line together (sparse-text mode splits
  // them into one "line" per word).
  api_->SetPageSegMode(tesseract::PSM_AUTO);
}

TextRecognizer::~TextRecognizer() { api_->End(); }

std::vector<TextLine> TextRecognizer::recognize(const Frame& frame, const Rect& region) {
  std::vector<TextLine> lines;
  Rect r = region.clipped(frame.width, frame.height);
  if (r.empty()) return lines;
  std::vector<uint8_t> grey = grey_scaled(frame, r);
  api_->SetImage(grey.data(), r.w * kScale, r.h * kScale, 1, r.w * kScale);
  api_->SetSourceResolution(96 * kScale);
  if (api_->Recognize(nullptr) != 0) throw Error("Tesseract failed to recognise a screen region");
  std::unique_ptr<tesseract::ResultIterator> it(api_->GetIterator());
  if (!it) return lines;
  // Words are judged one by one (a line often mixes clean words with border glyphs), and
  // the words kept from one Tesseract line make one TextLine.
  TextLine line;
  int words = 0;
  auto flush = [&] {
    if (words > 0) {
      line.confidence /= float(words);
      lines.push_back(std::move(line));
    }
    line = TextLine{};
    words = 0;
  };
  do {
    if (it->IsAtBeginningOf(tesseract::RIL_TEXTLINE)) flush();
    std::unique_ptr<char[]> text(it->GetUTF8Text(tesseract::RIL_WORD));
    std::string word = trimmed(text.get());
    float confidence = it->Confidence(tesseract::RIL_WORD);
    int l, t, rr, b;
    if (confidence < kMinConfidence || !has_alnum(word) ||
        !it->BoundingBox(tesseract::RIL_WORD, &l, &t, &rr, &b))
      continue;
    Rect box{r.x + l / kScale, r.y + t / kScale, (rr - l + kScale - 1) / kScale,
             (b - t + kScale - 1) / kScale};
    line.text += (words ? " " : "") + word;
    line.box = line.box.united(box);
    line.confidence += confidence;
    ++words;
  } while (it->Next(tesseract::RIL_WORD));
  flush();
  api_->Clear();
  return lines;
}

}  // namespace deja::display
