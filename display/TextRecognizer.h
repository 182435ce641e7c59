// Optical character recognition of screen regions, with Tesseract (libtesseract, through its
// C API, loaded on first use: MediaLibs.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "display/Frame.h"
#include "display/Rect.h"

namespace tesseract {
class TessBaseAPI;
}
namespace deja::display {
struct TessBaseAPIDelete {
  void operator()(tesseract::TessBaseAPI* api) const;
};
}  // namespace deja::display

namespace deja::display {

struct ReadWord;

/// One recognised line of text and where it is on the screen.
struct TextLine {
  std::string text;
  Rect box;
  float confidence = 0;  // 0..100, Tesseract's mean word confidence
  /// Runs of words so close they may be one word Tesseract split, each joined, separated
  /// by spaces ("yellowmeadow" for "yel lowmeadow"); indexed for search, not shown.
  std::string joined;
};

/// A loaded Tesseract engine (English). Loading takes a few hundred milliseconds, so one
/// recogniser is kept per recording. Not thread-safe: one thread uses it.
class TextRecognizer {
 public:
  TextRecognizer();
  ~TextRecognizer();
  TextRecognizer(const TextRecognizer&) = delete;
  TextRecognizer& operator=(const TextRecognizer&) = delete;

  /// Lines of text inside `region` of `frame`, with boxes in screen coordinates.
  /// Words Tesseract is very unsure of (confidence below 10) or that hold no letter or
  /// digit are left out: on a screen they are mostly borders, icons and cursor blocks.
  /// Unsure words are read a second time, alone and at another size.
  /// `known` are boxes whose text was read before and stands: they are left out (blank).
  std::vector<TextLine> recognize(const Frame& frame, const Rect& region,
                                  const std::vector<Rect>& known = {});
  /// Calls `pace` between the parts (text lines) Tesseract recognises, so a long read can
  /// wait there for its share of the CPU (TextIndexer).
  void set_pacer(std::function<void()> pace) { pace_ = std::move(pace); }

 private:
  std::vector<ReadWord> read_words(const Frame& frame, const Rect& region,
                                   const std::vector<Rect>& known);
  std::pair<std::string, float> read_one_word(const Frame& frame, const Rect& box);

  std::unique_ptr<tesseract::TessBaseAPI, TessBaseAPIDelete> api_;
  std::function<void()> pace_;
  /// Second readings by the fingerprint of the pixels read (ink_hash): the same pixels
  /// read the same. A line being typed is read again at each pass with its older words
  /// unchanged, and a listing repeats words ("-rwxr-xr-x"): in display_bench's typing, 9
  /// of a pass's 16 second readings were of words read at the pass before.
  std::unordered_map<uint64_t, std::pair<std::string, float>> rereads_;
};

}  // namespace deja::display
