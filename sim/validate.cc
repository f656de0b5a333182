// sim/validate.cc — which fields each endpoint and model allows (see validate.h); how
// one field is checked lives in sim/body_checker.cc.
#include "sim/validate.h"

#include <fmt/format.h>
#include <simdjson.h>

#include "sim/body_checker.h"

namespace runwayd::sim {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

// Namespace-scope lists: their backing arrays live for the whole program, so copying a
// Names (two pointers) out of them is safe, unlike assigning a braced list to one.
const Names kGen4Ratios = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"};
const Names kLandscapePortrait = {"1280:720", "720:1280"};
const Names kGen3aRatios = {"1280:768", "768:1280"};
const Names kVeoRatios = {"1280:720", "720:1280", "1080:1920", "1920:1080"};
const Names kAlephRatios = {"1280:720", "720:1280", "1104:832", "960:960",
                            "832:1104", "1584:672", "848:480",  "640:480"};
const Names kImageRatios = {"1920:1080", "1080:1920", "1024:1024", "1360:768", "1080:1080", "1168:880",
                            "1440:1080", "1080:1440", "1808:768",  "2112:912", "1280:720",  "720:1280",
                            "720:720",   "960:720",   "720:960",   "1680:720"};
const Names kImageToVideoModels = {"gen4_turbo", "gen4.5", "gen3a_turbo", "veo3", "veo3.1", "veo3.1_fast"};
const Names kTextToVideoModels = {"gen4.5", "veo3", "veo3.1", "veo3.1_fast"};
const Names kVideoToVideoModels = {"gen4_aleph", "aleph2"};
const Names kCharacterModels = {"act_two"};
const Names kTextToImageModels = {"gen4_image", "gen4_image_turbo"};

// Only veo3.1 and veo3.1_fast know `audio`: for any other model it is an unknown key.
bool HasAudio(std::string_view model) { return model == "veo3.1" || model == "veo3.1_fast"; }

// promptImage: a URI (or data URI), or 1 to 2 {uri, position: first|last}.
void PromptImage(object o, BodyChecker* c) {
  element img;
  simdjson::dom::array arr;
  if (!Field(o, "promptImage", &img)) return c->TypeIssue({{"promptImage"}}, "string", "undefined");
  if (img.get_array().get(arr) != simdjson::SUCCESS) return c->Asset(img, {{"promptImage"}}, false);
  if (arr.size() < 1 || arr.size() > 2)
    c->Add("too_big", {{"promptImage"}}, "Array must contain between 1 and 2 element(s)");
  int64_t i = 0;
  for (element item : arr) {
    object io;
    element pos;
    std::string_view ps;
    if (item.get_object().get(io) == simdjson::SUCCESS && Field(io, "position", &pos) &&
        (pos.get_string().get(ps) != simdjson::SUCCESS || (ps != "first" && ps != "last")))
      c->Add("invalid_enum_value", {{"promptImage"}, {"", i}, {"position"}},
             "Invalid enum value. Expected 'first' | 'last'");
    c->AssetObject(item, {{"promptImage"}, {"", i}}, {}, {"position"}, false);
    ++i;
  }
}

// Ratio and duration rules shared by the video endpoints, per model.
void VideoShape(object o, std::string_view model, bool text_to_video, BodyChecker* c) {
  if (model == "gen4_turbo" || model == "gen4.5") {
    c->Ratio(o, text_to_video ? kLandscapePortrait : kGen4Ratios, true);
    c->Duration(o, model == "gen4.5", 2, 10);
  } else if (model == "gen3a_turbo") {
    c->Ratio(o, kGen3aRatios, false);
    c->Duration(o, false, 0, 0, {5, 10});
  } else if (model == "veo3") {
    c->Ratio(o, kVeoRatios, true);
    c->Duration(o, false, 0, 0, {8});
  } else {  // veo3.1, veo3.1_fast
    c->Ratio(o, kVeoRatios, true);
    c->Duration(o, false, 0, 0, {4, 6, 8});
    c->Bool(o, "audio", true);
  }
}

void ImageToVideo(object o, std::string_view model, BodyChecker* c) {
  c->UnknownKeys(o,
                 HasAudio(model) ? Names{"model", "promptImage", "promptText", "ratio", "duration", "seed",
                                         "contentModeration", "audio"}
                                 : Names{"model", "promptImage", "promptText", "ratio", "duration", "seed",
                                         "contentModeration"},
                 {});
  PromptImage(o, c);
  c->Prompt(o, false);
  c->Seed(o);
  c->Moderation(o);
  VideoShape(o, model, false, c);
}

void TextToVideo(object o, std::string_view model, BodyChecker* c) {
  c->UnknownKeys(o,
                 HasAudio(model)
                     ? Names{"model", "promptText", "ratio", "duration", "seed", "audio", "contentModeration"}
                     : Names{"model", "promptText", "ratio", "duration", "seed", "contentModeration"},
                 {});
  c->Prompt(o, true);
  c->Seed(o);
  c->Moderation(o);
  VideoShape(o, model, true, c);
}

void VideoToVideo(object o, BodyChecker* c) {
  c->UnknownKeys(o, {"model", "videoUri", "promptText", "ratio", "seed", "references", "contentModeration"}, {});
  element v;
  if (!Field(o, "videoUri", &v)) c->TypeIssue({{"videoUri"}}, "string", "undefined");
  else c->Asset(v, {{"videoUri"}}, true);
  c->Prompt(o, true);
  c->Ratio(o, kAlephRatios, false);  // the output size follows the input video
  c->Seed(o);
  c->Moderation(o);
  element refs;
  if (!Field(o, "references", &refs)) return;
  simdjson::dom::array arr;
  if (refs.get_array().get(arr) != simdjson::SUCCESS)
    return c->TypeIssue({{"references"}}, "array", TypeName(refs));
  int64_t i = 0;
  for (element r : arr) c->AssetObject(r, {{"references"}, {"", i++}}, {"image"}, {}, false);
}

void CharacterPerformance(object o, BodyChecker* c) {
  c->UnknownKeys(o,
                 {"model", "character", "reference", "ratio", "bodyControl", "expressionIntensity", "seed",
                  "contentModeration"},
                 {});
  element ch, ref, ei;
  if (!Field(o, "character", &ch)) c->TypeIssue({{"character"}}, "object", "undefined");
  else c->AssetObject(ch, {{"character"}}, {"image", "video"}, {}, false);
  if (!Field(o, "reference", &ref)) c->TypeIssue({{"reference"}}, "object", "undefined");
  else c->AssetObject(ref, {{"reference"}}, {"video"}, {}, true);
  c->Ratio(o, kGen4Ratios, false);
  c->Bool(o, "bodyControl", false);
  c->Seed(o);
  c->Moderation(o);
  if (Field(o, "expressionIntensity", &ei)) {
    int64_t v = 0;
    if (ei.get_int64().get(v) != simdjson::SUCCESS)
      c->TypeIssue({{"expressionIntensity"}}, "integer", TypeName(ei));
    else if (v < 1 || v > 5)
      c->Add(v < 1 ? "too_small" : "too_big", {{"expressionIntensity"}}, "Number must be between 1 and 5");
  }
}

void TextToImage(object o, std::string_view model, BodyChecker* c) {
  c->UnknownKeys(o, {"model", "promptText", "ratio", "referenceImages", "seed", "contentModeration"}, {});
  c->Prompt(o, true);
  c->Ratio(o, kImageRatios, true);
  c->Seed(o);
  c->Moderation(o);
  const bool turbo = model == "gen4_image_turbo";  // turbo needs 1 to 3 reference images
  element refs;
  if (!Field(o, "referenceImages", &refs)) {
    if (turbo) c->TypeIssue({{"referenceImages"}}, "array", "undefined");
    return;
  }
  simdjson::dom::array arr;
  if (refs.get_array().get(arr) != simdjson::SUCCESS)
    return c->TypeIssue({{"referenceImages"}}, "array", TypeName(refs));
  if (arr.size() > 3) c->Add("too_big", {{"referenceImages"}}, "Array must contain at most 3 element(s)");
  if (turbo && arr.size() < 1) c->Add("too_small", {{"referenceImages"}}, "Array must contain at least 1 element(s)");
  int64_t i = 0;
  for (element r : arr) c->AssetObject(r, {{"referenceImages"}, {"", i++}}, {}, {"tag"}, false);
}

}  // namespace

bool IsCreateEndpoint(std::string_view e) {
  return e == "image_to_video" || e == "text_to_video" || e == "video_to_video" || e == "character_performance" ||
         e == "text_to_image";
}

Validation ValidateCreate(std::string_view endpoint, std::string_view body) {
  Validation v;
  thread_local simdjson::dom::parser parser;  // reused: the MHD thread parses every body
  element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    v.error = "Invalid JSON in request body";
    return v;
  }
  v.error = "Validation of body failed";
  BodyChecker c;
  object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    c.TypeIssue({}, "object", TypeName(root));
    v.issues = std::move(c.issues);
    return v;
  }
  Names models;
  if (endpoint == "image_to_video") models = kImageToVideoModels;
  else if (endpoint == "text_to_video") models = kTextToVideoModels;
  else if (endpoint == "video_to_video") models = kVideoToVideoModels;
  else if (endpoint == "character_performance") models = kCharacterModels;
  else if (endpoint == "text_to_image") models = kTextToImageModels;
  else {
    v.error = "Unknown endpoint";
    return v;
  }
  // The model picks the schema (a discriminated union): a bad model is the only issue.
  element m;
  std::string_view model;
  if (!Field(o, "model", &m) || m.get_string().get(model) != simdjson::SUCCESS || !In(models, model)) {
    Issue i;
    i.code = "invalid_union_discriminator";
    i.path = {{"model"}};
    i.options.assign(models.begin(), models.end());
    i.message = fmt::format("Invalid discriminator value. Expected {}", Quoted(models));
    v.issues.push_back(std::move(i));
    return v;
  }
  c.facts.model = std::string(model);
  if (endpoint == "image_to_video") ImageToVideo(o, model, &c);
  else if (endpoint == "text_to_video") TextToVideo(o, model, &c);
  else if (endpoint == "video_to_video") VideoToVideo(o, &c);
  else if (endpoint == "character_performance") CharacterPerformance(o, &c);
  else TextToImage(o, model, &c);

  v.facts = std::move(c.facts);
  v.prompt_text = std::move(c.prompt);
  v.issues = std::move(c.issues);
  v.ok = v.issues.empty();
  if (v.ok) v.error.clear();
  return v;
}

}  // namespace runwayd::sim
