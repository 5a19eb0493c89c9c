// The ring of 10 ms columns that the spectrogram and waveform shaders both read: columns are
// rows of a texture, written in place. The wave texture has one row more than the ring: its
// texel holds the newest column's row (`head`, r + 256 g) and how many rows hold data
// (`filled`, b + 256 a), so scrolling never changes the materials.
#define_import_path hark::ring

fn byte(x: f32) -> i32 {
    return i32(round(x * 255.0));
}

// The ring row shown at horizontal position `u` (0 = oldest, 1 = newest), or -1 when empty.
fn ring_row(wave: texture_2d<f32>, u: f32) -> i32 {
    let len = i32(textureDimensions(wave).y) - 1;
    let h = textureLoad(wave, vec2<i32>(0, len), 0);
    let head = byte(h.r) + 256 * byte(h.g);
    let filled = byte(h.b) + 256 * byte(h.a);
    let age = i32((1.0 - u) * f32(len));
    if (age >= filled) {
        return -1;
    }
    return (head - age + len) % len;
}
