// Scrolling waveform: per 10 ms column the min and max sample (r, g), the VAD probability (b)
// and decision (a). Speech is drawn green, the rest grey.
#import bevy_sprite::mesh2d_vertex_output::VertexOutput
#import hark::ring::ring_row

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var wave: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var wave_sampler: sampler;

@fragment
fn fragment(mesh: VertexOutput) -> @location(0) vec4<f32> {
    let bg = vec4<f32>(0.008, 0.008, 0.012, 1.0);
    let row = ring_row(wave, mesh.uv.x);
    if (row < 0) {
        return bg;
    }
    let w = textureLoad(wave, vec2<i32>(0, row), 0);
    // Amplitude at this pixel: +1 at the top, -1 at the bottom.
    let a = 1.0 - 2.0 * mesh.uv.y;
    let lo = w.r * 2.0 - 1.0;
    let hi = w.g * 2.0 - 1.0;
    // Always show at least a hairline.
    if (a >= min(lo, -0.01) && a <= max(hi, 0.01)) {
        if (w.a > 0.5) {
            return vec4<f32>(0.3, 0.9, 0.5, 1.0);
        }
        return vec4<f32>(0.35, 0.37, 0.42, 1.0);
    }
    // VAD probability as a faint bar along the bottom.
    if (mesh.uv.y > 0.94 && 1.0 - (mesh.uv.y - 0.94) / 0.06 < w.b) {
        return vec4<f32>(0.2, 0.35, 0.6, 1.0);
    }
    return bg;
}
