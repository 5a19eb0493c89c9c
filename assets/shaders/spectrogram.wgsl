// Live spectrogram: a ring texture of 10 ms columns (time along its height), scrolled by the
// ring's head so the newest column is at the right edge. Rows are log-spaced 60 Hz .. 8 kHz.
#import bevy_sprite::mesh2d_vertex_output::VertexOutput
#import hark::ring::ring_row

@group(#{MATERIAL_BIND_GROUP}) @binding(0) var spectrum: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(1) var spectrum_sampler: sampler;
@group(#{MATERIAL_BIND_GROUP}) @binding(2) var wave: texture_2d<f32>;
@group(#{MATERIAL_BIND_GROUP}) @binding(3) var wave_sampler: sampler;

// A perceptual dark-to-bright ramp (black, violet, crimson, orange, pale yellow).
fn ramp(t: f32) -> vec3<f32> {
    let x = clamp(t, 0.0, 1.0) * 4.0;
    let stops = array<vec3<f32>, 5>(
        vec3<f32>(0.0, 0.0, 0.015),
        vec3<f32>(0.16, 0.02, 0.33),
        vec3<f32>(0.62, 0.09, 0.30),
        vec3<f32>(0.96, 0.45, 0.06),
        vec3<f32>(0.99, 0.96, 0.62),
    );
    let i = min(u32(floor(x)), 3u);
    return mix(stops[i], stops[i + 1u], x - f32(i));
}

@fragment
fn fragment(mesh: VertexOutput) -> @location(0) vec4<f32> {
    let row = ring_row(wave, mesh.uv.x);
    if (row < 0) {
        return vec4<f32>(0.004, 0.004, 0.008, 1.0);
    }
    let bins = f32(textureDimensions(spectrum).x);
    let bin = clamp(i32((1.0 - mesh.uv.y) * bins), 0, i32(bins) - 1);
    let v = textureLoad(spectrum, vec2<i32>(bin, row), 0).r;
    var c = ramp(v);
    let w = textureLoad(wave, vec2<i32>(0, row), 0);
    if (w.a > 0.5) {
        // Speech: a green band along the top edge.
        if (mesh.uv.y < 0.035) {
            c = vec3<f32>(0.15, 0.85, 0.35);
        }
    } else if (mesh.uv.y < 0.035) {
        c = vec3<f32>(0.08, 0.08, 0.1);
    }
    return vec4<f32>(c, 1.0);
}
