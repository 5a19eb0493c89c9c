// The ring of 10 ms columns that the spectrogram and waveform shaders both read: columns are
// rows of a texture, written in place; `head` is the newest, `filled` how many hold data.
#define_import_path hark::ring

struct RingParams {
    head: u32,
    len: u32,
    filled: u32,
    _pad: u32,
}

// The ring row shown at horizontal position `u` (0 = oldest, 1 = newest), or -1 when empty.
fn ring_row(p: RingParams, u: f32) -> i32 {
    let age = i32((1.0 - u) * f32(p.len));
    if (age >= i32(p.filled)) {
        return -1;
    }
    return (i32(p.head) - age + i32(p.len)) % i32(p.len);
}
