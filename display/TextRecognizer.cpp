#include "display/TextRecognizer.h"

#include <tesseract/ocrclass.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>

#include "base/Error.h"
#include "display/MediaLibs.h"
#include "display/TextTracker.h"  // ink_hash

namespace deja::display {

// One word as Tesseract read it.
struct ReadWord {
  std::string text;
  float confidence = 0;
  int line = 0;                         // which of Tesseract's lines it is on
  Rect box;                             // on the screen
  int left = 0, right = 0, height = 0;  // in the enlarged image, for the gaps between words
  std::string other;  // another reading of the word: indexed for search, not shown
};

namespace {

// Terminal and UI fonts are 10-15 px tall, below the 20-30 px Tesseract's models were
// trained on; doubling the size makes xterm's default 6x13 font readable, and tripling it
// costs twice the time for no gain over a whole screen.
constexpr int kScale = 2;
// Tesseract's misreadings of screen text come with a low word confidence ("nippliest" for
// "nippiest" at 23, "o11" for "oil" at 69, in 9x15), and a word misread in its line is
// mostly read right alone and larger. Words below kRereadBelow are read again alone at
// kRereadScale, and both readings are indexed for search.
constexpr float kRereadBelow = 75;
constexpr int kRereadScale = 4;
// A screen of pictures gives many unsure "words"; the second readings of a region stop here.
constexpr int kMaxRereads = 16;
// Second readings remembered (a few hundred bytes each); all are forgotten past this.
constexpr size_t kRememberedRereads = 4096;
// Tesseract is unsure of words outside its dictionary: identifiers and file names such as
// "walnutlantern" read right at 15-20, less in a frame decoded from the video. The bar is
// low: a missed word is worse than an odd one in the index (on the recall benchmark's
// joined words in bitmap fonts, a bar of 20 found 96%, none at all 99%, with no more junk).
constexpr float kMinConfidence = 10;
// Words closer than half the line's height may be one word split in two (see below).
constexpr int kSplitGapRatio = 2;
// Screens are text of any colour on flat backgrounds of any colour, next to each other
// (a white terminal on a black desktop). Tesseract's global threshold and layout analysis
// lose text in such mixtures, so each pixel is classified here against the background of
// its own block: the most common grey level there. Ink becomes black, the rest white.
constexpr int kBlock = 16;
constexpr int kInkContrast = 48;
// White border added around the image, in enlarged pixels: Tesseract drops text that
// touches the image edge, which a changed area cut tightly around a line always does.
constexpr int kMargin = 24;

// Ink that is not text is erased before Tesseract sees it:
// - A cursor, filled or hollow (a box the size of a character cell), makes Tesseract merge
//   it with the glyphs next to it or give up on the line. It is found as a box outline:
//   a bar kBoxWidth wide whose two ends go down kBoxHeight into a bar as wide; whatever
//   touches it (the descender of a "y" above) does not hide it.
// - Window borders and separators two pixels left of a terminal's first column are read
//   as part of the first word ("frneons" for "canyonsi..."): ink in a run longer than any
//   glyph (kLineLength), or crossing the whole area, is such a line (see mark_lines).
// Glyphs are neither: their strokes are 1-2 px thick and they do not trace a box.
constexpr int kBoxMinWidth = 4, kBoxMaxWidth = 24;
constexpr int kBoxMinHeight = 8, kBoxMaxHeight = 40;
constexpr int kLineLength = 40;

// Marks ink on long vertical and horizontal lines. After video compression a vertical
// border wobbles by a pixel from row to row, so vertical runs are measured on ink widened
// by a pixel to each side; only ink pixels themselves are marked, so a glyph next to a
// border keeps its strokes. Horizontal runs are measured strictly: widened or bridged, the
// letters of a word would join into a "line".
void mark_lines(const std::vector<uint8_t>& img, int w, int h, std::vector<char>& erase) {
  auto ink = [&](int x, int y) { return img[size_t(y) * size_t(w) + size_t(x)] < 128; };
  auto long_run = [&](int length, int span) {
    return length >= kLineLength || (length == span && span >= 20);
  };
  for (int x = 0; x < w; ++x) {
    auto near = [&](int y) {
      return ink(x, y) || (x > 0 && ink(x - 1, y)) || (x + 1 < w && ink(x + 1, y));
    };
    for (int y = 0; y < h;) {
      int end = y;
      while (end < h && near(end)) ++end;
      if (long_run(end - y, h))
        for (int yy = y; yy < end; ++yy)
          if (ink(x, yy)) erase[size_t(yy) * size_t(w) + size_t(x)] = 1;
      y = end + 1;
    }
  }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w;) {
      int end = x;
      while (end < w && ink(end, y)) ++end;
      if (long_run(end - x, w))
        for (int xx = x; xx < end; ++xx) erase[size_t(y) * size_t(w) + size_t(xx)] = 1;
      x = end + 1;
    }
}

void erase_non_text(std::vector<uint8_t>& img, int w, int h) {
  auto at = [&](int x, int y) { return size_t(y) * size_t(w) + size_t(x); };
  auto ink = [&](int x, int y) { return img[at(x, y)] < 128; };
  // Ink run lengths from each pixel: to the left and right (inclusive), and down.
  std::vector<uint16_t> left(img.size()), right(img.size()), down(img.size());
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x)
      left[at(x, y)] = ink(x, y) ? uint16_t(1 + (x ? left[at(x - 1, y)] : 0)) : 0;
    for (int x = w - 1; x >= 0; --x)
      right[at(x, y)] = ink(x, y) ? uint16_t(1 + (x + 1 < w ? right[at(x + 1, y)] : 0)) : 0;
  }
  for (int x = 0; x < w; ++x) {
    for (int y = h - 1; y >= 0; --y)
      down[at(x, y)] = ink(x, y) ? uint16_t(1 + (y + 1 < h ? down[at(x, y + 1)] : 0)) : 0;
  }
  // A cursor is a character cell: taller than wide by half at least (6x13 to 10x20 and
  // TrueType cells are 1.6-2.2 times as tall as wide), and straight-sided, with no ink
  // right outside its sides on most rows. The bowls of b, d, o, g and the capitals D, O
  // also trace a box outline, but a squat or round one: the middle of a bowl bulges past
  // the columns where its top starts and ends.
  auto cursor_shaped = [&](int x0, int y0, int x1, int y1) {
    const int width = x1 - x0 + 1, height = y1 - y0 + 1;
    if (height * 2 < width * 3) return false;
    int straight = 0;
    for (int yy = y0; yy <= y1; ++yy) straight += left[at(x0, yy)] == 1 && right[at(x1, yy)] == 1;
    return straight * 4 >= height * 3;
  };
  std::vector<char> erase(img.size(), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = at(x, y);
      if (!ink(x, y)) continue;
      if (left[i] != 1 || right[i] < kBoxMinWidth || right[i] > kBoxMaxWidth) continue;
      const int x1 = x + right[i] - 1;
      const int height = std::min(down[i], down[at(x1, y)]);
      if (height < kBoxMinHeight || height > kBoxMaxHeight) continue;
      if (std::abs(int(down[i]) - int(down[at(x1, y)])) > 1) continue;
      const int y1 = y + height - 1;
      if (right[at(x, y1)] < right[i]) continue;
      if (!cursor_shaped(x, y, x1, y1)) continue;
      for (int yy = y; yy <= y1; ++yy)
        for (int xx = x; xx <= x1; ++xx) erase[at(xx, yy)] = 1;
    }
  mark_lines(img, w, h, erase);
  for (size_t i = 0; i < img.size(); ++i)
    if (erase[i]) img[i] = 255;
}

// An 8-bit picture for Tesseract, one byte a pixel, rows `width` bytes apart.
struct InkImage {
  std::vector<uint8_t> pixels;
  int width = 0, height = 0;
};

// Grey levels of an area, one byte a pixel, rows `w` bytes apart.
struct Grey {
  std::vector<uint8_t> pixels;
  int w = 0, h = 0;
};

// `region` of `frame` as black ink on white, with the boxes `blank` (screen coordinates)
// left white.
Grey ink_grey(const Frame& frame, const Rect& r, const std::vector<Rect>& blank) {
  Grey out{std::vector<uint8_t>(size_t(r.w) * size_t(r.h)), r.w, r.h};
  std::vector<uint8_t>& grey = out.pixels;
  for (int y = 0; y < r.h; ++y) {
    const uint8_t* s = frame.row(r.y + y) + size_t(r.x) * 4;
    for (int x = 0; x < r.w; ++x, s += 4)
      // ITU-R BT.601 luma in integers: B, G, R weights 29, 150, 77 (sum 256).
      grey[size_t(y) * r.w + x] = static_cast<uint8_t>((s[0] * 29 + s[1] * 150 + s[2] * 77) >> 8);
  }
  for (int by = 0; by < r.h; by += kBlock) {
    for (int bx = 0; bx < r.w; bx += kBlock) {
      const int bw = std::min(kBlock, r.w - bx), bh = std::min(kBlock, r.h - by);
      int histogram[256] = {};
      for (int y = by; y < by + bh; ++y)
        for (int x = bx; x < bx + bw; ++x) ++histogram[grey[size_t(y) * r.w + x]];
      const int background = int(std::max_element(histogram, histogram + 256) - histogram);
      for (int y = by; y < by + bh; ++y)
        for (int x = bx; x < bx + bw; ++x) {
          int contrast = std::abs(grey[size_t(y) * r.w + x] - background);
          grey[size_t(y) * r.w + x] = static_cast<uint8_t>(255 - std::min(255, contrast * 2));
        }
    }
  }
  // Blanked after the eraser, which finds borders by their length across the whole area.
  erase_non_text(grey, r.w, r.h);
  for (const Rect& b : blank) {
    // A pixel to each side: antialiased edges of glyphs may fall just outside a word's box.
    const Rect k = Rect{b.x - 1, b.y, b.w + 2, b.h}.intersected(r);
    for (int y = k.y; y < k.bottom(); ++y)
      std::fill_n(grey.data() + size_t(y - r.y) * r.w + (k.x - r.x), k.w, uint8_t(255));
  }
  return out;
}

// The smallest rectangle holding every ink pixel (darker than mid-grey) of a w x h picture.
Rect ink_bounds(const std::vector<uint8_t>& img, int w, int h) {
  int left = w, top = h, right = -1, bottom = -1;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = img.data() + size_t(y) * size_t(w);
    for (int x = 0; x < w; ++x)
      if (row[x] < 128) {
        left = std::min(left, x), right = std::max(right, x);
        top = std::min(top, y), bottom = std::max(bottom, y);
      }
  }
  return right < 0 ? Rect{} : Rect{left, top, right - left + 1, bottom - top + 1};
}

// The part `part` of `grey` enlarged `scale` times, with a kMargin border. Each pixel is
// what the enlargement of the whole would have there: only the part is computed.
InkImage enlarged(const Grey& grey, const Rect& part, int scale) {
  const int w = part.w * scale;
  InkImage out{{}, w + 2 * kMargin, part.h * scale + 2 * kMargin};
  const size_t stride = size_t(out.width);
  out.pixels.assign(stride * size_t(out.height), 255);
  auto at = [&](int yy, int xx) { return float(grey.pixels[size_t(yy) * grey.w + xx]); };
  // Bilinear enlargement keeps glyph outlines smooth (replicated pixels turn the serifs
  // of bitmap fonts into stair steps Tesseract misreads, "l" as "]").
  for (int y = part.y * scale; y < part.bottom() * scale; ++y) {
    const float fy = std::max(0.f, (y + 0.5f) / scale - 0.5f);
    const int y0 = std::min(int(fy), grey.h - 1), y1 = std::min(y0 + 1, grey.h - 1);
    const float wy = fy - float(y0);
    uint8_t* d = out.pixels.data() + size_t(y - part.y * scale + kMargin) * stride + kMargin;
    for (int x = part.x * scale; x < part.right() * scale; ++x) {
      const float fx = std::max(0.f, (x + 0.5f) / scale - 0.5f);
      const int x0 = std::min(int(fx), grey.w - 1), x1 = std::min(x0 + 1, grey.w - 1);
      const float wx = fx - float(x0);
      float top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
      float bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
      d[x - part.x * scale] = static_cast<uint8_t>(top * (1 - wy) + bottom * wy + 0.5f);
    }
  }
  return out;
}

// Tesseract's text `s` without the characters at either end that `keep` does not accept.
template <class Keep>
std::string trimmed(const char* s, Keep keep) {
  std::string t = s ? s : "";
  t.erase(t.begin(), std::find_if(t.begin(), t.end(), keep));
  t.erase(std::find_if(t.rbegin(), t.rend(), keep).base(), t.end());
  return t;
}

std::string trimmed(const char* s) {
  return trimmed(s, [](unsigned char c) { return !std::isspace(c); });
}

bool has_alnum(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c); });
}

// Whether two readings are one for search, which folds case.
bool same_letters(const std::string& a, const std::string& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
    return std::tolower(x) == std::tolower(y);
  });
}

// Lines of the words kept, in Tesseract's order.
std::vector<TextLine> assemble_lines(const std::vector<ReadWord>& words) {
  std::vector<TextLine> lines;
  TextLine line;
  int count = 0, line_no = -1;
  int prev_right = 0, line_height = 0;  // in the enlarged image
  std::string run;                      // the current run of close words, joined
  int run_words = 0;
  auto flush = [&] {
    if (run_words > 1) line.joined += run;
    run.clear();
    run_words = 0;
    if (count > 0) {
      line.confidence /= float(count);
      lines.push_back(std::move(line));
    }
    line = TextLine{};
    count = 0;
    line_height = 0;
  };
  for (const ReadWord& w : words) {
    if (w.line != line_no) flush(), line_no = w.line;
    // Tesseract splits words of monospace fonts around narrow letters ("harborcast le",
    // "yel lowmeadow"): their side bearings look like a space. Words much closer than a
    // monospace space (a whole character cell) are also recorded joined, so a search for
    // the word finds the line. The text itself stays as read: in proportional fonts such
    // gaps are real spaces.
    line_height = std::max(line_height, w.height);
    const bool close = count > 0 && (w.left - prev_right) * kSplitGapRatio < line_height;
    if (close) {
      run += w.text;
    } else {
      if (run_words > 1) line.joined += run + " ";
      run = w.text;
      run_words = 0;
    }
    ++run_words;
    line.text += (count ? " " : "") + w.text;
    if (!w.other.empty()) line.joined += w.other + " ";
    prev_right = w.right;
    line.box = line.box.united(w.box);
    line.confidence += w.confidence;
    ++count;
  }
  flush();
  return lines;
}

}  // namespace

void TessBaseAPIDelete::operator()(tesseract::TessBaseAPI* api) const {
  tesseract_api().TessBaseAPIDelete(api);
}

TextRecognizer::TextRecognizer() : api_(tesseract_api().TessBaseAPICreate()) {
  const TesseractApi& tess = tesseract_api();
  if (tess.TessBaseAPIInit2(api_.get(), nullptr, "eng", tesseract::OEM_LSTM_ONLY) != 0)
    throw Error("load Tesseract's English model: is tesseract-ocr-eng installed?");
  // Tesseract's own chatter ("Empty page!!") would land on the session's stderr.
  tess.TessBaseAPISetVariable(api_.get(), "debug_file", "/dev/null");
  // Table detection looks for tables in every region: a terminal listing (ls -l) looks
  // like one, and a full screen of it read in 8 % less time without (ocr_image, same text).
  tess.TessBaseAPISetVariable(api_.get(), "textord_tabfind_find_tables", "0");
}

TextRecognizer::~TextRecognizer() {
  tesseract_api().TessBaseAPIEnd(api_.get());
}

std::vector<TextLine> TextRecognizer::recognize(const Frame& frame, const Rect& region,
                                                const std::vector<Rect>& known) {
  const Rect r = region.clipped(frame.width, frame.height);
  if (r.empty()) return {};
  std::vector<ReadWord> words = read_words(frame, r, known);
  int rereads = 0;
  for (ReadWord& w : words) {
    if (w.confidence >= kRereadBelow || w.box.empty() || ++rereads > kMaxRereads) continue;
    auto [text, confidence] = read_one_word(frame, w.box);
    if (!has_alnum(text) || same_letters(text, w.text)) continue;
    // Both readings are indexed for search. Tesseract's confidence in a word read alone
    // says little about which is right ("nippiest" came at 24, "nippliest" at 23; "preqise"
    // at 58, "precise" at 44), so the first stays the one shown unless it is not kept.
    if (w.confidence < kMinConfidence && confidence >= kMinConfidence)
      std::swap(text, w.text), w.confidence = confidence;
    w.other = text;
  }
  std::erase_if(
      words, [](const ReadWord& w) { return w.confidence < kMinConfidence || !has_alnum(w.text); });
  return assemble_lines(words);
}

std::vector<ReadWord> TextRecognizer::read_words(const Frame& frame, const Rect& r,
                                                 const std::vector<Rect>& known) {
  std::vector<ReadWord> words;
  const Grey grey = ink_grey(frame, r, known);
  // Tesseract's time grows with the pixels it is given: only the part with ink (and a
  // margin) is read, and nothing at all when the cursor eraser left none (a blank window).
  // Only that part is enlarged, with room for the margin: an enlarged pixel is ink only
  // next to an ink pixel of the area.
  const Rect ink_at = ink_bounds(grey.pixels, grey.w, grey.h);
  if (ink_at.empty()) return words;
  const int room = kMargin / kScale + 2;
  const Rect part =
      Rect{ink_at.x - room, ink_at.y - room, ink_at.w + 2 * room, ink_at.h + 2 * room}.clipped(
          grey.w, grey.h);
  const InkImage ink = enlarged(grey, part, kScale);
  const Rect inked = ink_bounds(ink.pixels, ink.width, ink.height);
  if (inked.empty()) return words;
  const Rect read =
      Rect{inked.x - kMargin, inked.y - kMargin, inked.w + 2 * kMargin, inked.h + 2 * kMargin}
          .clipped(ink.width, ink.height);
  // Automatic layout keeps the words of a terminal line together (sparse-text mode splits
  // them into one "line" per word).
  const TesseractApi& tess = tesseract_api();
  tess.TessBaseAPISetPageSegMode(api_.get(), tesseract::PSM_AUTO);
  tess.TessBaseAPISetImage(api_.get(), ink.pixels.data(), ink.width, ink.height, 1, ink.width);
  tess.TessBaseAPISetRectangle(api_.get(), read.x, read.y, read.w, read.h);
  tess.TessBaseAPISetSourceResolution(api_.get(), 96 * kScale);
  // Tesseract asks whether to cancel before each part it recognises: the moment to pace.
  tesseract::ETEXT_DESC monitor;
  monitor.cancel = [](void* self, int) {
    if (const auto& pace = static_cast<TextRecognizer*>(self)->pace_) pace();
    return false;
  };
  monitor.cancel_this = this;
  if (tess.TessBaseAPIRecognize(api_.get(), &monitor) != 0)
    throw Error("Tesseract failed to recognise a screen region");
  std::unique_ptr<tesseract::ResultIterator, decltype(tess.TessResultIteratorDelete)> it(
      tess.TessBaseAPIGetIterator(api_.get()), tess.TessResultIteratorDelete);
  int line = -1;
  for (bool more = bool(it); more;
       more = tess.TessResultIteratorNext(it.get(), tesseract::RIL_WORD)) {
    const tesseract::PageIterator* page = tess.TessResultIteratorGetPageIteratorConst(it.get());
    if (tess.TessPageIteratorIsAtBeginningOf(page, tesseract::RIL_TEXTLINE)) ++line;
    std::unique_ptr<char[], decltype(tess.TessDeleteText)> text(
        tess.TessResultIteratorGetUTF8Text(it.get(), tesseract::RIL_WORD), tess.TessDeleteText);
    int l, t, rr, b;
    if (!tess.TessPageIteratorBoundingBox(page, tesseract::RIL_WORD, &l, &t, &rr, &b)) continue;
    // In the enlargement of the whole area.
    l += part.x * kScale, rr += part.x * kScale, t += part.y * kScale, b += part.y * kScale;
    ReadWord w;
    w.text = trimmed(text.get());
    w.confidence = tess.TessResultIteratorConfidence(it.get(), tesseract::RIL_WORD);
    w.line = line;
    w.left = l, w.right = rr, w.height = b - t;
    l -= kMargin, t -= kMargin, rr -= kMargin, b -= kMargin;
    w.box = Rect{r.x + l / kScale, r.y + t / kScale, (rr - l + kScale - 1) / kScale,
                 (b - t + kScale - 1) / kScale}
                .clipped(frame.width, frame.height);
    words.push_back(std::move(w));
  }
  tess.TessBaseAPIClear(api_.get());
  return words;
}

std::pair<std::string, float> TextRecognizer::read_one_word(const Frame& frame, const Rect& box) {
  // Two pixels of the space on each side: glyphs of the next word are a cell away.
  const Rect r =
      Rect{box.x - 2, box.y - 2, box.w + 4, box.h + 4}.clipped(frame.width, frame.height);
  const uint64_t key = ink_hash(frame, r);
  if (auto known = rereads_.find(key); known != rereads_.end()) return known->second;
  if (rereads_.size() >= kRememberedRereads) rereads_.clear();
  const Grey grey = ink_grey(frame, r, {});
  const InkImage ink = enlarged(grey, Rect{0, 0, grey.w, grey.h}, kRereadScale);
  const TesseractApi& tess = tesseract_api();
  tess.TessBaseAPISetPageSegMode(api_.get(), tesseract::PSM_SINGLE_WORD);
  tess.TessBaseAPISetImage(api_.get(), ink.pixels.data(), ink.width, ink.height, 1, ink.width);
  tess.TessBaseAPISetSourceResolution(api_.get(), 96 * kRereadScale);
  std::pair<std::string, float> result{"", 0.f};
  if (tess.TessBaseAPIRecognize(api_.get(), nullptr) == 0) {
    std::unique_ptr<char[], decltype(tess.TessDeleteText)> text(
        tess.TessBaseAPIGetUTF8Text(api_.get()), tess.TessDeleteText);
    // A word cut out tightly is often read with a quote or colon at an end that is not there.
    result = {trimmed(text.get(), [](unsigned char c) { return std::isalnum(c) != 0; }),
              float(tess.TessBaseAPIMeanTextConf(api_.get()))};
  }
  tess.TessBaseAPIClear(api_.get());
  rereads_.emplace(key, result);
  return result;
}

}  // namespace deja::display
