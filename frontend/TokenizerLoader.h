//===- TokenizerLoader.h - Tokenizer data from GGUF or tokenizer.json -----===//
//
// Reads a byte-level BPE vocabulary into rt::TokenizerData, the form the
// compiler stores in the weights file:
//
//  - GGUF: tokenizer.ggml.model "gpt2"; tokenizer.ggml.pre selects the
//    pre-tokenizer as llama.cpp does ("lfm2", "llama3", "llama-v3",
//    "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0": Llama-3
//    regex with whole-word lookup and BOS by default; "gpt-2": GPT-2 regex);
//    tokens, token_type, merges, bos/eos/eot/padding ids, add_bos_token.
//  - Hugging Face: tokenizer.json (BPE model, merges as "a b" strings or
//    [a, b] pairs, ignore_merges, added_tokens, pre_tokenizer
//    Sequence[Split(regex), ByteLevel] or ByteLevel alone) and, if present,
//    tokenizer_config.json (add_bos_token, bos_token, eos_token, pad_token).
//    Added tokens become control tokens (type 3) when special, user-defined
//    (type 4) otherwise; ids missing from the vocabulary become unused
//    "[PAD<id>]" tokens, as llama.cpp's converter does.
//
// End of generation is eos, eot and any token named <|endoftext|>,
// <|im_end|>, <|eot_id|>, <|eom_id|>, <|end_of_text|>, <end_of_turn> or
// <|end|> (llama.cpp's list, which it applies by name). eot is the GGUF key
// if present, else the first of <|eot_id|>, <|im_end|>, <|end|>,
// <end_of_turn>, <|endoftext|> in the vocabulary.
//
// Errors name the file and the key or field involved.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_FRONTEND_TOKENIZERLOADER_H
#define LFM2C_FRONTEND_TOKENIZERLOADER_H

#include "frontend/GGUF.h"
#include "runtime/Status.h"
#include "runtime/Tokenizer.h"

#include <string>

namespace lfm2c {

StatusOr<rt::TokenizerData> tokenizerFromGGUF(const GGUFFile &file);

// `dir` holds tokenizer.json (required) and tokenizer_config.json
// (optional).
StatusOr<rt::TokenizerData> tokenizerFromHF(const std::string &dir);

} // namespace lfm2c

#endif // LFM2C_FRONTEND_TOKENIZERLOADER_H
