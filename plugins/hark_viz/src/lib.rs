//! The live pictures, rendered on the GPU: a scrolling spectrogram and waveform.
//!
//! The ECS side turns each session's [`AudioChunk`]s into 10 ms columns ([`analysis`]): an FFT
//! mapped to 128 log-frequency rows, min/max of the waveform, and the VAD's probability and
//! decision. The columns go into two ring textures (time along the height), and only the new
//! rows are written, in place, by a render-world system (`queue.write_texture` of a sub-region):
//! there is no full re-upload per frame. The WGSL materials in `assets/shaders/` scroll the ring by
//! its head index, map magnitudes through a perceptual colour map and draw the speech regions.

pub mod analysis;

use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::{
    AsBindGroup, Extent3d, Origin3d, TexelCopyBufferLayout, TexelCopyTextureInfo, TextureAspect, TextureDimension,
    TextureFormat,
};
use bevy::render::renderer::RenderQueue;
use bevy::render::texture::GpuImage;
use bevy::render::{Extract, ExtractSchedule, Render, RenderApp, RenderSystems};
use bevy::shader::ShaderRef;
use bevy::sprite_render::{Material2d, Material2dPlugin};
use hark_core::{AudioChunk, CaptureEnded, PipelineSystems, VadFrame};

use analysis::{Column, ColumnMaker, HOP, ROWS};

/// Columns kept in the ring textures: 1024 × 10 ms = 10.24 s on screen.
pub const RING: u32 = 1024;

/// The ring's scroll state as the shaders read it: the wave texture's extra last row holds the
/// newest column's row (`head`) and how many columns hold data (`filled`), as little-endian
/// byte pairs in its RGBA texel. Being texture data written in place like the columns, it never
/// touches the materials, so Bevy never rebuilds their bind groups while the view scrolls.
pub fn ring_header(written: u64) -> [u8; 4] {
    let head = ((written + RING as u64 - 1) % RING as u64) as u16;
    let filled = written.min(RING as u64) as u16;
    let [h0, h1] = head.to_le_bytes();
    let [f0, f1] = filled.to_le_bytes();
    [h0, h1, f0, f1]
}

/// The spectrogram: R8 ring of 128 log-frequency rows × [`RING`] columns, plus the VAD per column.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct SpectrogramMaterial {
    #[texture(0)]
    #[sampler(1)]
    pub spectrum: Handle<Image>,
    #[texture(2)]
    #[sampler(3)]
    pub wave: Handle<Image>,
}

impl Material2d for SpectrogramMaterial {
    fn fragment_shader() -> ShaderRef {
        "shaders/spectrogram.wgsl".into()
    }
}

/// The waveform: min/max per column, with the VAD decision.
#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct WaveformMaterial {
    #[texture(0)]
    #[sampler(1)]
    pub wave: Handle<Image>,
}

impl Material2d for WaveformMaterial {
    fn fragment_shader() -> ShaderRef {
        "shaders/waveform.wgsl".into()
    }
}

/// The ring textures and where the next column goes.
#[derive(Resource, Debug, Clone)]
pub struct VizRing {
    pub spectrum: Handle<Image>,
    pub wave: Handle<Image>,
    pub spectrogram_material: Handle<SpectrogramMaterial>,
    pub waveform_material: Handle<WaveformMaterial>,
    /// Columns written since start (absolute column number of the next one).
    pub written: u64,
    /// The column (counted as `written` counts) that shows sample 0 of the shown session; it
    /// can be negative when the session started before the view did (a replay from the middle).
    pub session_start_column: i64,
    /// The session being shown.
    pub session: Option<Entity>,
    /// Recent columns, summarised for tests and the state dump.
    pub recent: std::collections::VecDeque<RecentColumn>,
}

/// What the state dump keeps of a column.
#[derive(Debug, Clone, Copy)]
pub struct RecentColumn {
    pub session: Entity,
    /// Mean spectrogram value (0–255) over the speech band, 300–3400 Hz.
    pub speech_band: f32,
    /// The VAD's probability and decision for the column's samples.
    pub vad: f32,
    pub speech: bool,
}

/// Columns produced this frame, on their way to the GPU.
#[derive(Resource, Debug, Clone, Default)]
pub struct NewColumns {
    spectrum: Vec<(u32, [u8; ROWS])>,
    wave: Vec<(u32, [u8; 4])>,
    /// The ring's new scroll state (see [`ring_header`]), when columns were added.
    header: Option<[u8; 4]>,
    spectrum_image: Option<AssetId<Image>>,
    wave_image: Option<AssetId<Image>>,
}

#[derive(Resource, Default)]
struct Makers {
    maker: Option<ColumnMaker>,
    /// VAD frames (start sample, p, speech) not yet matched to a column.
    vad: std::collections::VecDeque<(u64, f32, bool)>,
    last_vad: (f32, bool),
    /// Session sample at which the maker started.
    origin: u64,
    columns: u64,
    /// The shown session's capture has ended, so the view may move to another one.
    ended: bool,
    /// Columns made this frame (kept to reuse the allocation).
    produced: Vec<Column>,
}

impl VizRing {
    /// The column showing session sample `sample` of the shown session.
    pub fn column_of(&self, sample: u64) -> f64 {
        self.session_start_column as f64 + sample as f64 / HOP as f64
    }
}

#[derive(Debug, Default)]
pub struct VizPlugin;

impl Plugin for VizPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            Material2dPlugin::<SpectrogramMaterial>::default(),
            Material2dPlugin::<WaveformMaterial>::default(),
        ))
        .init_resource::<NewColumns>()
        .init_resource::<Makers>()
        .add_systems(Startup, create_ring)
        .add_systems(Update, make_columns.in_set(PipelineSystems::Output).run_if(resource_exists::<VizRing>));
        if let Some(render_app) = app.get_sub_app_mut(RenderApp) {
            render_app
                .init_resource::<NewColumns>()
                .add_systems(ExtractSchedule, extract_columns)
                .add_systems(Render, write_columns.in_set(RenderSystems::PrepareResources));
        }
    }
}

fn ring_image(width: u32, height: u32, format: TextureFormat, pixel: &[u8]) -> Image {
    let mut img = Image::new_fill(
        Extent3d { width, height, depth_or_array_layers: 1 },
        TextureDimension::D2,
        pixel,
        format,
        RenderAssetUsages::RENDER_WORLD,
    );
    img.sampler = ImageSampler::nearest();
    img
}

/// Keeps `shaders/ring.wgsl` (the `hark::ring` module both view shaders import) loaded.
#[derive(Resource)]
struct RingShader(#[expect(dead_code, reason = "held only to keep the shader loaded")] Handle<Shader>);

fn create_ring(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    mut images: ResMut<Assets<Image>>,
    mut spec_mats: ResMut<Assets<SpectrogramMaterial>>,
    mut wave_mats: ResMut<Assets<WaveformMaterial>>,
) {
    commands.insert_resource(RingShader(asset_server.load("shaders/ring.wgsl")));
    let spectrum = images.add(ring_image(ROWS as u32, RING, TextureFormat::R8Unorm, &[0]));
    // One row more than the ring: the header, whose `filled` bytes (b, a) start at 0.
    let wave = images.add(ring_image(1, RING + 1, TextureFormat::Rgba8Unorm, &[128, 128, 0, 0]));
    let spectrogram_material = spec_mats.add(SpectrogramMaterial { spectrum: spectrum.clone(), wave: wave.clone() });
    let waveform_material = wave_mats.add(WaveformMaterial { wave: wave.clone() });
    commands.insert_resource(VizRing {
        spectrum,
        wave,
        spectrogram_material,
        waveform_material,
        written: 0,
        session_start_column: 0,
        session: None,
        recent: std::collections::VecDeque::new(),
    });
}

/// How many columns the state dump keeps (5 min, about 0.5 MB): a test's few captures must all
/// fit, however slowly a loaded machine runs them.
pub const RECENT: usize = 30_000;

fn make_columns(
    mut ring: ResMut<VizRing>,
    mut makers: ResMut<Makers>,
    mut new: ResMut<NewColumns>,
    mut chunks: MessageReader<AudioChunk>,
    mut vad: MessageReader<VadFrame>,
    mut ended: MessageReader<CaptureEnded>,
    // A cut-short capture being finished in the background is saved audio, not what is heard.
    resumed: Query<(), With<hark_core::Resumed>>,
) {
    new.spectrum.clear();
    new.wave.clear();
    new.header = None;
    new.spectrum_image = Some(ring.spectrum.id());
    new.wave_image = Some(ring.wave.id());
    let mut produced = std::mem::take(&mut makers.produced);
    produced.clear();
    for c in chunks.read() {
        if resumed.contains(c.session) {
            continue;
        }
        if ring.session != Some(c.session) {
            // The view stays on a session until its capture ends (a recall while recording,
            // say, does not make it flip between the two).
            if ring.session.is_some() && !makers.ended {
                continue;
            }
            ring.session = Some(c.session);
            ring.session_start_column = ring.written as i64 - (c.start / HOP as u64) as i64;
            let m = &mut *makers;
            m.maker = Some(ColumnMaker::new());
            (m.origin, m.columns, m.ended, m.last_vad) = (c.start, 0, false, (0.0, false));
            m.vad.clear();
        }
        let m = &mut *makers;
        if let Some(maker) = m.maker.as_mut() {
            maker.push(&c.samples, |col| produced.push(col));
        }
    }
    // After the chunks, so a new session's first frames are not taken for the old one's.
    for f in vad.read() {
        if Some(f.session) == ring.session {
            makers.vad.push_back((f.start, f.probability, f.speech));
        }
    }
    if ended.read().any(|e| Some(e.session) == ring.session) {
        makers.ended = true;
    }
    if produced.is_empty() {
        makers.produced = produced;
        return;
    }
    for col in produced.drain(..) {
        // The VAD decision for the column's samples (frames are 16 ms, columns 10 ms).
        let col_start = makers.origin + makers.columns * HOP as u64;
        while let Some(&(start, p, s)) = makers.vad.front() {
            if start > col_start {
                break;
            }
            makers.last_vad = (p, s);
            makers.vad.pop_front();
        }
        makers.columns += 1;
        let (p, speech) = makers.last_vad;
        let row = (ring.written % RING as u64) as u32;
        new.spectrum.push((row, col.spectrum));
        let enc = |x: f32| ((x.clamp(-1.0, 1.0) * 0.5 + 0.5) * 255.0) as u8;
        new.wave.push((row, [enc(col.min), enc(col.max), (p * 255.0) as u8, if speech { 255 } else { 0 }]));
        ring.written += 1;
        let session = ring.session.unwrap_or(Entity::PLACEHOLDER);
        let speech_band = analysis::band_energy(&col, 300.0, 3400.0);
        ring.recent.push_back(RecentColumn { session, speech_band, vad: p, speech });
        if ring.recent.len() > RECENT {
            ring.recent.pop_front();
        }
    }
    makers.produced = produced;
    // A fast source (a recall) can make more columns in one frame than the ring holds: only
    // the last ring's worth reaches the GPU.
    if new.spectrum.len() > RING as usize {
        let extra = new.spectrum.len() - RING as usize;
        new.spectrum.drain(..extra);
        new.wave.drain(..extra);
    }
    new.header = Some(ring_header(ring.written));
}

fn extract_columns(mut commands: Commands, new: Extract<Res<NewColumns>>) {
    commands.insert_resource(new.clone());
}

fn write_columns(new: Res<NewColumns>, images: Res<RenderAssets<GpuImage>>, queue: Res<RenderQueue>) {
    let write = |id: Option<AssetId<Image>>, row: u32, data: &[u8], width: u32, bpp: u32| {
        let Some(gpu) = id.and_then(|id| images.get(id)) else { return };
        queue.write_texture(
            TexelCopyTextureInfo {
                texture: &gpu.texture,
                mip_level: 0,
                origin: Origin3d { x: 0, y: row, z: 0 },
                aspect: TextureAspect::All,
            },
            data,
            TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(width * bpp), rows_per_image: Some(1) },
            Extent3d { width, height: 1, depth_or_array_layers: 1 },
        );
    };
    for (row, data) in &new.spectrum {
        write(new.spectrum_image, *row, data, ROWS as u32, 1);
    }
    for (row, data) in &new.wave {
        write(new.wave_image, *row, data, 1, 4);
    }
    if let Some(header) = &new.header {
        write(new.wave_image, RING, header, 1, 4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_core::HarkCorePlugin;

    fn app() -> App {
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, bevy::asset::AssetPlugin::default(), HarkCorePlugin))
            .init_asset::<Image>()
            .init_asset::<Shader>()
            .init_asset::<SpectrogramMaterial>()
            .init_asset::<WaveformMaterial>()
            .init_resource::<NewColumns>()
            .init_resource::<Makers>()
            .add_systems(Startup, create_ring)
            .add_systems(Update, make_columns.in_set(PipelineSystems::Output));
        app.update();
        app
    }

    fn second(app: &mut App, session: Entity, start: u64) {
        app.world_mut().write_message(AudioChunk { session, start, samples: vec![0.1; 16_000].into() });
        app.update();
    }

    #[test]
    fn the_view_follows_one_session_at_a_time_and_places_its_samples() {
        let mut app = app();
        let a = app.world_mut().spawn_empty().id();
        let b = app.world_mut().spawn_empty().id();
        for i in 0..3 {
            second(&mut app, a, i * 16_000);
        }
        let ring = app.world().resource::<VizRing>();
        assert_eq!((ring.session, ring.session_start_column), (Some(a), 0));
        let written_by_a = ring.written;
        assert!(written_by_a >= 290, "{written_by_a} columns for 3 s");
        // Another session's audio while `a` still captures does not take the view.
        second(&mut app, b, 0);
        assert_eq!(app.world().resource::<VizRing>().session, Some(a));
        // Once `a` has ended, `b` does, and its sample 0 maps to the column after `a`'s last.
        app.world_mut().write_message(CaptureEnded { session: a, samples: 3 * 16_000 });
        app.update();
        second(&mut app, b, 16_000);
        let ring = app.world().resource::<VizRing>();
        assert_eq!(ring.session, Some(b));
        assert_eq!(ring.column_of(16_000), written_by_a as f64);
        assert_eq!(ring.column_of(0), written_by_a as f64 - 100.0);
    }

    #[test]
    fn a_burst_longer_than_the_ring_uploads_only_the_last_ring() {
        let mut app = app();
        let a = app.world_mut().spawn_empty().id();
        app.world_mut().write_message(AudioChunk { session: a, start: 0, samples: vec![0.1; 20 * 16_000].into() });
        app.update();
        let new = app.world().resource::<NewColumns>();
        assert_eq!((new.spectrum.len(), new.wave.len()), (RING as usize, RING as usize));
        let written = app.world().resource::<VizRing>().written;
        assert_eq!(new.spectrum.last().unwrap().0 as u64, (written - 1) % RING as u64);
        // The header names that last row as the head, and a full ring.
        let [h0, h1, f0, f1] = new.header.unwrap();
        assert_eq!(u16::from_le_bytes([h0, h1]) as u64, (written - 1) % RING as u64);
        assert_eq!(u16::from_le_bytes([f0, f1]) as u32, RING);
    }

    #[test]
    fn the_header_counts_columns_until_the_ring_is_full_and_wraps_the_head() {
        let header = |written| {
            let [h0, h1, f0, f1] = ring_header(written);
            (u16::from_le_bytes([h0, h1]), u16::from_le_bytes([f0, f1]))
        };
        assert_eq!(header(1), (0, 1));
        assert_eq!(header(300), (299, 300));
        assert_eq!(header(RING as u64), (RING as u16 - 1, RING as u16));
        assert_eq!(header(RING as u64 + 5), (4, RING as u16));
        // Frames without new columns leave the header (and the materials) alone.
        let mut app = app();
        let a = app.world_mut().spawn_empty().id();
        second(&mut app, a, 0);
        let written = app.world().resource::<VizRing>().written;
        assert_eq!(app.world().resource::<NewColumns>().header, Some(ring_header(written)));
        app.update();
        assert_eq!(app.world().resource::<NewColumns>().header, None);
    }
}
