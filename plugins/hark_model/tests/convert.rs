//! Conversion rules, checked on small synthetic CTranslate2 models made here.

use std::path::{Path, PathBuf};

use hark_model::ggml::{TensorEntry, TensorType};
use hark_model::synth::{SynthOptions, WeightStorage, put_str, token, value, write_model};
use hark_model::{FType, ModelError, import_ct2, mel, verify, vocab};
use sha2::{Digest, Sha256};

struct Converted {
    bytes: Vec<u8>,
    index: Vec<TensorEntry>,
}

impl Converted {
    fn entry(&self, name: &str) -> &TensorEntry {
        self.index.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"))
    }

    fn has(&self, name: &str) -> bool {
        self.index.iter().any(|t| t.name == name)
    }

    fn values(&self, name: &str) -> Vec<f32> {
        let t = self.entry(name);
        let n: usize = t.ne.iter().product();
        let d = &self.bytes[t.offset as usize..];
        match t.ttype {
            TensorType::F32 => (0..n).map(|i| f32::from_le_bytes(d[4 * i..4 * i + 4].try_into().unwrap())).collect(),
            TensorType::F16 => (0..n).map(|i| half::f16::from_le_bytes([d[2 * i], d[2 * i + 1]]).to_f32()).collect(),
            q => {
                let mut out = Vec::new();
                hark_model::quantize::dequantize_blocks(q, &d[..q.bytes(n)], &mut out);
                out
            }
        }
    }
}

fn convert(opt: &SynthOptions, ftype: FType) -> (tempfile::TempDir, Converted) {
    let tmp = tempfile::tempdir().unwrap();
    let ct2 = tmp.path().join("ct2");
    write_model(&ct2, opt).unwrap();
    let out = tmp.path().join("out.bin");
    import_ct2(&ct2, &out, ftype).unwrap();
    let info = verify(&out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    (tmp, Converted { bytes, index: info.index })
}

/// The source values of rows `rows` of CT2 variable `name` with `row_len` columns.
fn source_rows(name: &str, rows: std::ops::Range<usize>, row_len: usize) -> Vec<f32> {
    (rows.start * row_len..rows.end * row_len).map(|i| value(name, i)).collect()
}

#[test]
fn fused_qkv_rows_split_in_order_q_k_v() {
    let opt = SynthOptions::default();
    let n = opt.n;
    let (_t, c) = convert(&opt, FType::F16);
    for (side, blk) in [("encoder", "encoder.blocks.0"), ("decoder", "decoder.blocks.0")] {
        let w = format!("{side}/layer_0/self_attention/linear_0/weight");
        let b = format!("{side}/layer_0/self_attention/linear_0/bias");
        assert_eq!(c.values(&format!("{blk}.attn.query.weight")), source_rows(&w, 0..n, n));
        assert_eq!(c.values(&format!("{blk}.attn.key.weight")), source_rows(&w, n..2 * n, n));
        assert_eq!(c.values(&format!("{blk}.attn.value.weight")), source_rows(&w, 2 * n..3 * n, n));
        assert_eq!(c.values(&format!("{blk}.attn.query.bias")), source_rows(&b, 0..n, 1));
        assert_eq!(c.values(&format!("{blk}.attn.value.bias")), source_rows(&b, 2 * n..3 * n, 1));
        assert_eq!(
            c.values(&format!("{blk}.attn.out.weight")),
            source_rows(&format!("{side}/layer_0/self_attention/linear_1/weight"), 0..n, n)
        );
    }
}

#[test]
fn cross_attention_kv_rows_split_and_q_out_taken_whole() {
    let opt = SynthOptions::default();
    let n = opt.n;
    let (_t, c) = convert(&opt, FType::F16);
    let kv = "decoder/layer_0/attention/linear_1/weight";
    assert_eq!(c.values("decoder.blocks.0.cross_attn.key.weight"), source_rows(kv, 0..n, n));
    assert_eq!(c.values("decoder.blocks.0.cross_attn.value.weight"), source_rows(kv, n..2 * n, n));
    assert_eq!(
        c.values("decoder.blocks.0.cross_attn.value.bias"),
        source_rows("decoder/layer_0/attention/linear_1/bias", n..2 * n, 1)
    );
    assert_eq!(
        c.values("decoder.blocks.0.cross_attn.query.weight"),
        source_rows("decoder/layer_0/attention/linear_0/weight", 0..n, n)
    );
    assert_eq!(
        c.values("decoder.blocks.0.cross_attn.out.weight"),
        source_rows("decoder/layer_0/attention/linear_2/weight", 0..n, n)
    );
}

#[test]
fn key_biases_and_projection_alias_are_dropped() {
    let (_t, c) = convert(&SynthOptions::default(), FType::F16);
    assert!(!c.has("encoder.blocks.0.attn.key.bias"));
    assert!(!c.has("decoder.blocks.0.attn.key.bias"));
    assert!(!c.has("decoder.blocks.0.cross_attn.key.bias"));
    assert!(!c.index.iter().any(|t| t.name.contains("projection")));
    // 11 globals + 15 per encoder layer + 24 per decoder layer.
    assert_eq!(c.index.len(), 11 + 15 + 24);
}

#[test]
fn dims_are_reversed_and_types_follow_the_spec() {
    let opt = SynthOptions::default();
    let n = opt.n;
    let (_t, c) = convert(&opt, FType::F16);
    let e = c.entry("encoder.blocks.0.mlp.0.weight");
    assert_eq!((e.ne.clone(), e.ttype), (vec![n, 4 * n], TensorType::F16));
    let e = c.entry("encoder.conv1.weight");
    assert_eq!((e.ne.clone(), e.ttype), (vec![3, 80, n], TensorType::F16));
    let e = c.entry("decoder.token_embedding.weight");
    assert_eq!((e.ne.clone(), e.ttype), (vec![n, 51864], TensorType::F16));
    let e = c.entry("encoder.positional_embedding");
    assert_eq!((e.ne.clone(), e.ttype), (vec![n, 1500], TensorType::F32));
    let e = c.entry("decoder.blocks.0.mlp_ln.weight");
    assert_eq!((e.ne.clone(), e.ttype), (vec![n], TensorType::F32));
    // Official order: decoder positional embedding first, encoder ln_post last.
    assert_eq!(c.index[0].name, "decoder.positional_embedding");
    assert_eq!(c.index.last().unwrap().name, "encoder.ln_post.bias");
}

#[test]
fn conv_bias_is_reshaped_to_two_dims_in_f32() {
    let opt = SynthOptions::default();
    let (_t, c) = convert(&opt, FType::F16);
    for conv in ["conv1", "conv2"] {
        let e = c.entry(&format!("encoder.{conv}.bias"));
        assert_eq!(e.ne, vec![1, opt.n]);
        assert_eq!(e.ttype, TensorType::F32);
        assert_eq!(c.values(&e.name.clone()), source_rows(&format!("encoder/{conv}/bias"), 0..opt.n, 1));
    }
}

#[test]
fn f32_output_has_every_tensor_f32_with_same_values() {
    let opt = SynthOptions::default();
    let (_t16, a) = convert(&opt, FType::F16);
    let (_t32, b) = convert(&opt, FType::F32);
    assert!(b.index.iter().all(|t| t.ttype == TensorType::F32));
    for t in &a.index {
        assert_eq!(a.values(&t.name), b.values(&t.name), "{}", t.name);
    }
}

/// Reads the vocabulary block of a converted file: (count, tokens).
fn vocab_of(c: &Converted) -> Vec<Vec<u8>> {
    let off = 4 + 11 * 4 + 8 + 80 * 201 * 4;
    let b = &c.bytes;
    let count = i32::from_le_bytes(b[off..off + 4].try_into().unwrap()) as usize;
    let mut p = off + 4;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let l = u32::from_le_bytes(b[p..p + 4].try_into().unwrap()) as usize;
        out.push(b[p + 4..p + 4 + l].to_vec());
        p += 4 + l;
    }
    out
}

#[test]
fn vocabulary_is_decoded_to_raw_bytes() {
    let (_t, c) = convert(&SynthOptions::default(), FType::F16);
    let v = vocab_of(&c);
    assert_eq!(v.len(), 50257);
    assert_eq!(v[0], b"!");
    assert_eq!(v[1], b" ");
    assert_eq!(v[2], b"\n");
    assert_eq!(v[3], b" the");
    assert_eq!(v[4], [0xe5, 0x9c, 0xba]);
    assert_eq!(v[50256], b"<|endoftext|>");
    assert_eq!(vocab::unicode_to_byte('Ġ'), Some(b' '));
    assert_eq!(vocab::unicode_to_byte('\u{143}'), Some(0xAD));
    assert_eq!(vocab::unicode_to_byte('\u{144}'), None);
}

#[test]
fn multilingual_keeps_the_empty_token_at_50256() {
    let opt = SynthOptions { multilingual: true, ..Default::default() };
    let (_t, c) = convert(&opt, FType::F16);
    let v = vocab_of(&c);
    assert_eq!(v.len(), 50257);
    assert!(v[50256].is_empty());
    assert_eq!(v[50255], format!("t{}", 50255).into_bytes());
    assert_eq!(i32::from_le_bytes(c.bytes[4..8].try_into().unwrap()), 51865);
    assert_eq!(token(50256, true), "");
}

#[test]
fn mel_filterbank_block_matches_whisper() {
    let block = mel::filter_block(80);
    assert_eq!(block.len(), 64_328);
    assert_eq!(hex::encode(Sha256::digest(&block)), "97d22dd3c65bc0c664ed23acdb68b6528ab5517f6861852571ae1cad6350eab7");
    let f = mel::filters(80);
    assert_eq!(f.iter().filter(|&&x| x != 0.0).count(), 391);
    assert_eq!(f[0].to_bits(), 0, "+0.0 at [0][0], as in the official files");
}

#[test]
fn int8_weights_are_dequantized_per_row() {
    let opt = SynthOptions { storage: WeightStorage::Int8, ..Default::default() };
    let n = opt.n;
    let (_t, c) = convert(&opt, FType::F16);
    let name = "encoder/layer_0/ffn/linear_0/weight";
    let got = c.values("encoder.blocks.0.mlp.0.weight");
    for r in 0..4 * n {
        let row: Vec<f32> = (0..n).map(|k| value(name, r * n + k)).collect();
        let scale = 127.0 / row.iter().fold(0f32, |a, &b| a.max(b.abs()));
        for k in 0..n {
            let q = (row[k] * scale).round_ties_even() as i8;
            let want = half::f16::from_f32(q as f32 / scale).to_f32();
            assert_eq!(got[r * n + k], want, "row {r} col {k}");
            // And the dequantized value is close to the original.
            assert!((got[r * n + k] - row[k]).abs() <= row.iter().fold(0f32, |a, &b| a.max(b.abs())) / 127.0 + 0.02);
        }
    }
    // The tied embedding is quantized too, and its scale is found through the alias-free name.
    assert_eq!(c.entry("decoder.token_embedding.weight").ttype, TensorType::F16);
}

#[test]
fn int16_weights_are_dequantized_with_a_scalar_scale() {
    let opt = SynthOptions { storage: WeightStorage::Int16, ..Default::default() };
    let (_t, c) = convert(&opt, FType::F32);
    let name = "encoder/conv2/weight";
    let count = opt.n * opt.n * 3;
    let amax = (0..count).fold(0f32, |a, i| a.max(value(name, i).abs()));
    let scale = 32767.0 / amax;
    let got = c.values("encoder.conv2.weight");
    assert_eq!(got.len(), count);
    for (i, g) in got.iter().enumerate() {
        let q = (value(name, i) * scale).round_ties_even() as i16;
        assert_eq!(*g, q as f32 / scale);
    }
}

// ---- bad input ----------------------------------------------------------------------------

fn import_err(dir: &Path) -> (ModelError, PathBuf) {
    let out = dir.parent().unwrap().join("out.bin");
    let e = import_ct2(dir, &out, FType::F16).expect_err("import should fail");
    assert!(!out.exists(), "no output file after a failure");
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary file left behind: {leftovers:?}");
    (e, out)
}

fn synth_dir(opt: &SynthOptions) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ct2");
    write_model(&dir, opt).unwrap();
    (tmp, dir)
}

#[test]
fn truncated_model_is_reported_with_its_path() {
    let (_t, dir) = synth_dir(&SynthOptions::default());
    let mb = dir.join("model.bin");
    let len = std::fs::metadata(&mb).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&mb).unwrap();
    f.set_len(len / 2).unwrap();
    let (e, _) = import_err(&dir);
    let msg = e.to_string();
    assert!(msg.contains(&mb.display().to_string()) && msg.contains("truncated"), "{msg}");
}

#[test]
fn wrong_spec_name_is_refused() {
    let (_t, dir) = synth_dir(&SynthOptions { spec_name: "TransformerSpec".into(), ..Default::default() });
    let msg = import_err(&dir).0.to_string();
    assert!(msg.contains("TransformerSpec") && msg.contains("not a Whisper model"), "{msg}");
}

#[test]
fn missing_vocabulary_is_refused() {
    let (_t, dir) = synth_dir(&SynthOptions::default());
    std::fs::remove_file(dir.join("vocabulary.txt")).unwrap();
    let msg = import_err(&dir).0.to_string();
    assert!(msg.contains("vocabulary.txt") && msg.contains(&dir.display().to_string()), "{msg}");
}

#[test]
fn vocabulary_length_must_match_embedding_rows() {
    let (_t, dir) = synth_dir(&SynthOptions { vocab_len: Some(51000), ..Default::default() });
    let msg = import_err(&dir).0.to_string();
    assert!(msg.contains("51000") && msg.contains("51864"), "{msg}");
}

#[test]
fn ggml_file_given_to_import_is_refused() {
    let (t, dir) = synth_dir(&SynthOptions::default());
    let ggml = t.path().join("model.ggml");
    import_ct2(&dir, &ggml, FType::F16).unwrap();
    let msg = import_err(&ggml).0.to_string();
    assert!(msg.contains("already a whisper.cpp ggml model"), "{msg}");
    // A ggml file renamed to model.bin inside a directory is recognised too.
    let d2 = t.path().join("renamed");
    std::fs::create_dir(&d2).unwrap();
    std::fs::copy(&ggml, d2.join("model.bin")).unwrap();
    let msg = import_err(&d2).0.to_string();
    assert!(msg.contains("ggml model, not a CTranslate2"), "{msg}");
}

#[test]
fn missing_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let msg = import_err(&t.path().join("nope")).0.to_string();
    assert!(msg.contains("nope") && msg.contains("does not exist"), "{msg}");
}

#[test]
fn strings_must_carry_their_nul() {
    let (_t, dir) = synth_dir(&SynthOptions::default());
    let mb = dir.join("model.bin");
    let mut b = std::fs::read(&mb).unwrap();
    // The spec name "WhisperSpec\0" sits at bytes 6..18; replace its NUL.
    assert_eq!(&b[6..17], b"WhisperSpec");
    b[17] = b'X';
    std::fs::write(&mb, &b).unwrap();
    let msg = import_err(&dir).0.to_string();
    assert!(msg.contains("not NUL-terminated"), "{msg}");
    // And a zero-length string is refused rather than read as empty.
    let mut z = Vec::new();
    z.extend_from_slice(&6u32.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    std::fs::write(&mb, &z).unwrap();
    let msg = import_err(&dir).0.to_string();
    assert!(msg.contains("length 0"), "{msg}");
    // A well-formed string round-trips through put_str.
    let mut s = Vec::new();
    put_str(&mut s, "abc");
    assert_eq!(s, [4, 0, b'a', b'b', b'c', 0]);
}

#[test]
fn split_model_parts_are_joined() {
    let (_t, dir) = synth_dir(&SynthOptions::default());
    let whole = std::fs::read(dir.join("model.bin")).unwrap();
    let out_whole = dir.parent().unwrap().join("whole.bin");
    import_ct2(&dir, &out_whole, FType::F16).unwrap();
    let (a, b) = whole.split_at(whole.len() / 3);
    std::fs::remove_file(dir.join("model.bin")).unwrap();
    std::fs::write(dir.join("model.bin.part1"), a).unwrap();
    std::fs::write(dir.join("model.bin.part2"), b).unwrap();
    let out_parts = dir.parent().unwrap().join("parts.bin");
    import_ct2(&dir, &out_parts, FType::F16).unwrap();
    assert_eq!(std::fs::read(out_whole).unwrap(), std::fs::read(out_parts).unwrap());
}

#[test]
fn verify_rejects_truncated_and_foreign_files() {
    let (t, dir) = synth_dir(&SynthOptions::default());
    let out = t.path().join("m.bin");
    import_ct2(&dir, &out, FType::F16).unwrap();
    let len = std::fs::metadata(&out).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&out).unwrap().set_len(len - 10).unwrap();
    let msg = verify(&out).unwrap_err().to_string();
    assert!(msg.contains("truncated"), "{msg}");
    let msg = verify(&dir.join("model.bin")).unwrap_err().to_string();
    assert!(msg.contains("not a whisper.cpp ggml model") && msg.contains("hark model import"), "{msg}");
}

#[test]
fn quantized_file_keeps_every_tensor_whisper_cpp_keeps_and_blocks_the_rest() {
    let opt = SynthOptions { n: 32, ..Default::default() };
    let (t, f16) = convert(&opt, FType::F16);
    let input = t.path().join("out.bin");
    for to in FType::QUANTIZED {
        let out = t.path().join(format!("{}.bin", to.name()));
        let r = hark_model::quantize_file(&input, &out, to).unwrap();
        let info = verify(&out).unwrap();
        assert_eq!(info.hparams.ftype, to);
        assert_eq!(r.quantized, info.quantized_tensors);
        let q = Converted { bytes: std::fs::read(&out).unwrap(), index: info.index };
        // Header after the ftype, mel filters and vocabulary are the input's.
        let head = f16.index[0].offset as usize - 12 - 4 * 2 - f16.index[0].name.len();
        assert_eq!(q.bytes[..44], f16.bytes[..44], "{to:?}: magic and hyper-parameters");
        assert_eq!(i32::from_le_bytes(q.bytes[44..48].try_into().unwrap()), to.file_id());
        assert!(q.bytes[48..head] == f16.bytes[48..head], "{to:?}: filters and vocabulary copied");
        for e in &f16.index {
            let qe = q.entry(&e.name);
            let want = match (e.ttype, e.ne.len()) {
                (TensorType::F16, 2) => to.weight_type(),
                (ty, _) => ty,
            };
            assert_eq!(qe.ttype, want, "{}", e.name);
            let (a, b) = (f16.values(&e.name), q.values(&e.name));
            if want == e.ttype {
                assert!(a == b, "{} copied as is", e.name);
                continue;
            }
            for (xa, xb) in a.chunks(32).zip(b.chunks(32)) {
                let amax = xa.iter().fold(0f32, |m, v| m.max(v.abs()));
                let (lo, hi) = xa.iter().fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
                let step = match to {
                    FType::Q8_0 => amax / 127.0 / 2.0,
                    FType::Q5_1 => (hi - lo) / 31.0 / 2.0,
                    FType::Q5_0 => amax / 16.0,
                    _ => amax / 8.0,
                };
                for (x, y) in xa.iter().zip(xb) {
                    assert!((x - y).abs() <= step + amax * 2e-3 + 1e-6, "{} {to:?}: {x} became {y}", e.name);
                }
            }
        }
    }
}

/// A header claiming a tensor of 10¹² elements (4 TB) in a file of a few hundred KB is refused
/// by the check every model load runs first, naming the file and the tensor, before anything is
/// read or allocated for it (whisper.cpp never sees the file).
#[test]
fn a_tensor_claiming_a_trillion_elements_is_refused_before_anything_is_allocated() {
    let (t, c) = convert(&SynthOptions::default(), FType::F16);
    let e = c.index.iter().find(|e| e.ne.len() >= 2).unwrap();
    let n_dims = e.ne.len();
    // Its header: n_dims, name length, type, the dimensions, the name; then its data.
    let start = e.offset as usize - e.name.len() - 4 * n_dims - 12;
    let mut bytes = c.bytes.clone();
    assert_eq!(i32::from_le_bytes(bytes[start..start + 4].try_into().unwrap()) as usize, n_dims);
    for k in 0..2 {
        bytes[start + 12 + 4 * k..start + 16 + 4 * k].copy_from_slice(&1_000_000i32.to_le_bytes());
    }
    let path = t.path().join("huge.bin");
    std::fs::write(&path, &bytes).unwrap();
    let msg = verify(&path).unwrap_err().to_string();
    assert!(msg.contains("huge.bin") && msg.contains(&e.name) && msg.contains("[1000000, 1000000"), "{msg}");
}

#[test]
fn a_missing_quantised_model_is_made_from_its_f16_file_once() {
    use hark_model::catalog::{Resolved, resolve_or_make};
    let (t, _) = convert(&SynthOptions { n: 32, ..Default::default() }, FType::F16);
    let models = t.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let f16 = models.join("ggml-tiny.en.bin");
    std::fs::rename(t.path().join("out.bin"), &f16).unwrap();
    let want = models.join("ggml-tiny.en-q8_0.bin");
    assert_eq!(resolve_or_make("tiny.en-q8_0", &models).unwrap(), Resolved::Made(want.clone(), f16.clone()));
    assert_eq!(verify(&want).unwrap().hparams.ftype, FType::Q8_0);
    // Made once: the next time it is found, and the f16 file is left as it was.
    assert_eq!(resolve_or_make("tiny.en-q8_0", &models).unwrap(), Resolved::Found(want));
    assert_eq!(verify(&f16).unwrap().hparams.ftype, FType::F16);
    // Without an f16 file nothing is made, and the missing path comes back for the caller's
    // message; an unknown name is taken as typed.
    let r = resolve_or_make("base.en-q5_1", &models).unwrap();
    assert_eq!(r, Resolved::Found(models.join("ggml-base.en-q5_1.bin")));
    assert!(!r.path().exists());
    assert_eq!(resolve_or_make("huge-q8_0", &models).unwrap(), Resolved::Found("huge-q8_0".into()));
}
