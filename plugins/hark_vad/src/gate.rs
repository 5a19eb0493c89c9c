//! Turns per-frame probabilities into speech regions.
//!
//! - **Onset**: speech starts after `onset_frames` consecutive speech-like frames, so clicks
//!   and single noisy frames do not open a region.
//! - **Hysteresis**: once in speech, frames stay speech-like down to the lower `release`
//!   threshold.
//! - **Hangover**: a region ends only after `hangover_ms` without speech, so pauses between
//!   words and short breaths stay inside one region.
//! - **Pre-roll / end pad**: the region starts `preroll_ms` before the onset (soft word
//!   beginnings) and ends `end_pad_ms` after the last speech frame.
//! - **Adaptive thresholds**: in steady noise the network's probability rests well above zero
//!   (0.2–0.4 in pink noise at 10 dB SNR). The gate tracks the 10th percentile of the last
//!   10 s of probabilities and keeps both thresholds at least `floor_margin` (enter) and
//!   `floor_margin / 2` (release) above it, so regions still close between utterances.
//! - **Weak-voice assist**: quiet, breathy or nasal voices often get a middling probability from
//!   the network. A frame whose probability is at least `assist_probability` *and* whose energy
//!   stands `assist_db` above the tracked noise floor counts as speech-like too.
//! - **Speech-band SNR**: a voice the network does not know at all (a hoarse speaker with a
//!   cold got probabilities near zero) still stands out of the noise in the bands voices use. A
//!   frame whose speech-band SNR ([`crate::spectral`]) reaches `band_enter_db` is speech-like;
//!   inside a region, `band_stay_db` keeps it so. Steady noise of any colour sits near 0–3 dB.
//! - **Steady sound is not a voice**: the three weaker kinds of evidence above (the energy
//!   assist, the quiet-floor release and the speech-band SNR) count only while the level in the
//!   speech bands moves by [`MOD_DB`] within [`LEVEL_WINDOW`] frames (192 ms), as syllables make
//!   it. Hiss that starts as a voice stops stands far above the floor learnt in the voice's
//!   pauses, and its bands above their noise, for the seconds those trackers take to learn it:
//!   it held regions open to its end. A probability at the network's threshold counts always.

use hark_core::SAMPLE_RATE;

/// Gate settings (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct GateSettings {
    /// Probability at which a frame is speech-like (lower = more sensitive).
    pub threshold: f32,
    /// Probability below which a frame inside speech counts as non-speech.
    pub release: f32,
    pub onset_frames: u32,
    pub hangover_ms: u32,
    pub preroll_ms: u32,
    pub end_pad_ms: u32,
    pub assist_probability: f32,
    pub assist_db: f32,
    /// How far above the probability floor the enter threshold must stay.
    pub floor_margin: f32,
    /// Inside speech, frames within this many dB of the noise floor count as pause unless
    /// their probability reaches the enter threshold.
    pub quiet_db: f32,
    /// Speech-band SNR (see [`crate::spectral`]) at which a frame is speech-like whatever the
    /// network says (a voice the network does not know, clearly above the noise).
    pub band_enter_db: f32,
    /// Inside speech, the speech-band SNR that keeps a frame speech-like.
    pub band_stay_db: f32,
}

impl GateSettings {
    /// The hangover for live capture: a pause this long ends what someone said, so its final
    /// text can be shown about this long after they stop (files keep the default, 600 ms, and
    /// join pauses anyway). On the long-form file and ten held-out monologues, fed in real time,
    /// end of speech to final text went from 0.61 to 0.31 s (p50), for 5 more errors in 911
    /// words on the monologues and none on the long-form file (docs/PERFORMANCE.md).
    pub const LIVE_HANGOVER_MS: u32 = 300;
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            release: 0.3,
            onset_frames: 3,
            hangover_ms: 600,
            preroll_ms: 500,
            end_pad_ms: 400,
            assist_probability: 0.1,
            assist_db: 14.0,
            floor_margin: 0.3,
            quiet_db: 5.0,
            // Chosen on the tuning half of `hark bench robust`'s noise set (docs/PERFORMANCE.md).
            band_enter_db: 8.0,
            band_stay_db: 5.0,
        }
    }
}

/// A region boundary in samples. `at` is where the region's audio starts or ends for the
/// segmenter (pre-roll and end pad included); `speech` is the VAD's own decision: the first
/// frame of the onset, or the end of the last speech-like frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Start { at: u64, speech: u64 },
    End { at: u64, speech: u64 },
}

impl Edge {
    /// The segmenter's boundary.
    pub fn at(self) -> u64 {
        match self {
            Self::Start { at, .. } | Self::End { at, .. } => at,
        }
    }
}

/// What the gate knows of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Frame {
    /// The detector's speech probability.
    pub p: f32,
    /// Broadband energy, dBFS.
    pub energy_db: f32,
    /// Speech-band SNR, dB.
    pub band_snr_db: f32,
    /// The level in the speech bands, dB ([`crate::spectral::BandSnr::level_db`]); `None` when
    /// unknown (the weaker evidence then counts whether the level moves or not).
    pub band_db: Option<f32>,
    /// A click, a tap or a key press ([`is_click`]): the weaker evidence does not count for
    /// it, and the network must be surer of it.
    pub impulsive: bool,
}

/// The share of a frame's energy in its loudest 8 ms that makes it a click.
pub const IMPULSE_SHARE: f32 = 0.9;
/// Frames after a knock in which frames 10 dB or more below it are its tail: 256 ms.
pub const IMPULSE_TAIL: u32 = 16;
/// A knock rises this far above the frame before it, to this far above the noise floor.
pub const TAIL_ARM_DB: f32 = 20.0;
/// A frame within this many dB of the one before holds its level; one this far below it is
/// still fading.
pub const TAIL_STEP_DB: f32 = 3.0;
/// How much surer than its threshold the network must be of a click for it to be speech.
pub const IMPULSE_MARGIN: f32 = 0.15;

/// Whether the frame `raw` is a click. A key press, a tap or a click is over in 10-30 ms: its
/// energy sits in 8 ms of a 16 ms frame (two adjacent 4 ms quarters hold 90 % of it: every frame of a
/// seeded click train did, 98 % or more in nine of ten), where a voice spreads over the frame
/// (0-2 % of the frames of the corpus's clips that only the weaker evidence calls speech, 1-8 %
/// of those the network does: plosive bursts, onsets). Typing kept a region open for as long as
/// it went on (a live utterance could not close) and whisper heard nothing in it ("speech not
/// recognised"). What is left of a knock after its first frames is the gate's to judge
/// ([`SpeechGate`]'s tail of a knock).
pub fn is_click(raw: &[f32]) -> bool {
    let quarter = raw.len().div_ceil(4).max(1);
    let mut q = [0.0f32; 4];
    for (e, part) in q.iter_mut().zip(raw.chunks(quarter)) {
        *e = part.iter().map(|v| v * v).sum();
    }
    let total: f32 = q.iter().sum();
    let most = q.windows(2).map(|w| w[0] + w[1]).fold(0.0, f32::max);
    total > 0.0 && most >= IMPULSE_SHARE * total
}

/// How far the speech-band level must move within [`LEVEL_WINDOW`] frames for the weaker
/// evidence to count. Over 192 ms windows, white noise moves that level by 0.9 dB (median) and
/// 1.5 dB (99th percentile), pink noise by 1.9 and 3.5 dB (`spectral`'s test); 3 dB let pink
/// hiss hold a region for 2 s, 5–6 dB lost part of a breathy voice at 5 dB SNR
/// (docs/PERFORMANCE.md).
pub const MOD_DB: f32 = 4.0;
/// Frames (16 ms) over which the level's movement is measured: 192 ms.
pub const LEVEL_WINDOW: usize = 12;

/// The speech-band level of the last [`LEVEL_WINDOW`] frames.
#[derive(Debug, Clone, Default)]
struct LevelMotion {
    ring: [f32; LEVEL_WINDOW],
    pos: usize,
    filled: usize,
}

impl LevelMotion {
    /// Adds a frame's level; returns whether the level moved by [`MOD_DB`] over the window.
    fn push(&mut self, db: f32) -> bool {
        self.ring[self.pos] = db;
        self.pos = (self.pos + 1) % LEVEL_WINDOW;
        self.filled = (self.filled + 1).min(LEVEL_WINDOW);
        let seen = &self.ring[..self.filled];
        let (lo, hi) = seen.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        hi - lo >= MOD_DB
    }
}

/// The smoothing state machine for one stream.
#[derive(Debug, Clone)]
pub struct SpeechGate {
    pub settings: GateSettings,
    in_speech: bool,
    onset_count: u32,
    onset_start: u64,
    last_speech_end: u64,
    quiet_samples: u64,
    /// End of the last closed region (a new pre-roll never reaches back past it).
    last_end: u64,
    floor_db: Option<f32>,
    prob_floor: ProbFloor,
    motion: LevelMotion,
    /// The last knock: frames since, and its energy (dBFS).
    peak: Option<(u32, f32)>,
    /// The energy of the frame before (dBFS).
    last_db: f32,
}

/// The 10th percentile of the last 10 s of frame probabilities, kept in a histogram so each
/// frame costs O(1).
#[derive(Debug, Clone)]
struct ProbFloor {
    ring: Vec<u8>,
    pos: usize,
    filled: usize,
    counts: [u32; 51],
}

impl ProbFloor {
    const LEN: usize = 625; // 10 s of 16 ms frames

    fn new() -> Self {
        Self { ring: vec![0; Self::LEN], pos: 0, filled: 0, counts: [0; 51] }
    }

    fn push(&mut self, p: f32) {
        let bin = (p.clamp(0.0, 1.0) * 50.0).round() as u8;
        if self.filled == Self::LEN {
            self.counts[self.ring[self.pos] as usize] -= 1;
        } else {
            self.filled += 1;
        }
        self.ring[self.pos] = bin;
        self.counts[bin as usize] += 1;
        self.pos = (self.pos + 1) % Self::LEN;
    }

    /// 10th percentile, or 0 until a second of audio has been seen.
    fn floor(&self) -> f32 {
        if self.filled < 60 {
            return 0.0;
        }
        let target = (self.filled as u32).div_ceil(10);
        let mut acc = 0;
        for (bin, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= target {
                return bin as f32 / 50.0;
            }
        }
        1.0
    }
}

fn ms(ms: u32) -> u64 {
    ms as u64 * SAMPLE_RATE as u64 / 1000
}

impl SpeechGate {
    pub fn new(settings: GateSettings) -> Self {
        Self {
            settings,
            in_speech: false,
            onset_count: 0,
            onset_start: 0,
            last_speech_end: 0,
            quiet_samples: 0,
            last_end: 0,
            floor_db: None,
            prob_floor: ProbFloor::new(),
            motion: LevelMotion::default(),
            peak: None,
            last_db: 0.0,
        }
    }

    /// The tracked noise floor in dBFS.
    pub fn noise_floor_db(&self) -> Option<f32> {
        self.floor_db
    }

    fn track_floor(&mut self, db: f32) -> f32 {
        // Digital silence (-90 dBFS and below) is no room noise: it does not set the floor.
        if db <= -90.0 {
            return self.floor_db.unwrap_or(db);
        }
        let f = self.floor_db.get_or_insert(db);
        if db < *f {
            *f += (db - *f) * 0.2;
        } else {
            // Rises slowly, so speech does not lift it, but a louder room is learnt in ~10 s.
            *f += (db - *f).min(30.0) * 0.0015;
        }
        *f
    }

    /// Feeds one frame (`start`, `len` samples) with its probability and energy. Calls `emit`
    /// for each region edge and returns whether the frame is speech: speech-like inside a
    /// region (a pause held open by the hangover is not speech, nor is an onset not yet
    /// confirmed).
    pub fn push(&mut self, start: u64, len: u64, p: f32, energy_db: f32, emit: impl FnMut(Edge)) -> bool {
        self.push_frame(start, len, Frame { p, energy_db, band_snr_db: 0.0, band_db: None, impulsive: false }, emit)
    }

    /// Whether a frame of `energy_db` is the fading tail of a knock: a click, or a frame that
    /// rose 20 dB or more above the one before to 20 dB above the room. Its tail is the frames
    /// after it, 10 dB or more below it, that are still falling (3 dB or more below the frame
    /// before) or back near the room (within the energy assist's reach of the floor), while the
    /// speech bands' smoothed levels still stand high; another burst in it (a key's release)
    /// is not its tail but does not end it. A frame after the first that holds its level (within
    /// 3 dB of the one before) above the room is a sound of its own (a voice after a plosive or
    /// a microphone's pop), and ends the watch.
    fn tail(&mut self, click: bool, energy_db: f32, floor: f32) -> bool {
        let before = self.last_db;
        self.last_db = energy_db;
        let sudden = energy_db >= floor + TAIL_ARM_DB && energy_db >= before + TAIL_ARM_DB;
        let fading = energy_db <= before - TAIL_STEP_DB || energy_db < floor + self.settings.assist_db;
        if click || sudden {
            // A click in a knock's tail (its last, fading burst) keeps the knock's level.
            let db = self.peak.map_or(energy_db, |(_, db)| db.max(energy_db));
            self.peak = Some((0, db));
            return click && fading && energy_db <= db - 10.0;
        }
        let Some((n, db)) = self.peak else { return false };
        let holding = !fading && energy_db < before + TAIL_STEP_DB;
        // A knock may still be loud in the frame after it; a sound of its own is two frames on.
        if n + 1 >= IMPULSE_TAIL || (n >= 1 && holding) {
            // Over, or a sustained sound.
            self.peak = None;
            return false;
        }
        self.peak = Some((n + 1, db));
        fading && energy_db <= db - 10.0
    }

    /// [`Self::push`] with every feature of the frame.
    pub fn push_frame(&mut self, start: u64, len: u64, f: Frame, mut emit: impl FnMut(Edge)) -> bool {
        let Frame { p, energy_db, band_snr_db, band_db, impulsive } = f;
        let floor = self.track_floor(energy_db);
        // The speech bands' levels are smoothed by half each frame: after a knock or a key
        // press 40 dB above the room they fall 3 dB a frame and hold its SNR up for 200 ms or
        // more, while the frames themselves are back near the room. Frames that stay 10 dB or
        // more below a loud frame (or a click) shortly before are its tail; a voice holds its
        // level within that for a syllable.
        let tail = self.tail(impulsive, energy_db, floor);
        // The weaker evidence below counts only while the level moves as a voice makes it, and
        // never for a click or its tail.
        let moving = band_db.is_none_or(|db| self.motion.push(db)) && !impulsive && !tail;
        self.prob_floor.push(p);
        let pf = self.prob_floor.floor();
        let s = &self.settings;
        // A click needs the network surer of it than a voice's frame does (it gives key presses
        // 0.45-0.52 beside speech).
        let threshold = (s.threshold.max(pf + s.floor_margin) + if impulsive { IMPULSE_MARGIN } else { 0.0 }).min(0.95);
        let release = s.release.max(pf + s.floor_margin / 2.0);
        let loud = moving && energy_db >= floor + s.assist_db;
        let end = start + len;
        if self.in_speech {
            // A middling probability at the noise floor's energy is noise, not a word.
            let above_floor = moving && energy_db >= floor + s.quiet_db;
            let speechy = p >= threshold
                || (p >= release && above_floor)
                || (p >= s.assist_probability && loud)
                || (moving && band_snr_db >= s.band_stay_db);
            if speechy {
                self.last_speech_end = end;
                self.quiet_samples = 0;
            } else {
                self.quiet_samples += len;
                if self.quiet_samples >= ms(s.hangover_ms) {
                    let at = (self.last_speech_end + ms(s.end_pad_ms)).min(end);
                    self.in_speech = false;
                    self.onset_count = 0;
                    self.last_end = at;
                    emit(Edge::End { at, speech: self.last_speech_end });
                }
            }
            speechy
        } else {
            let speechy = p >= threshold
                || (p >= s.assist_probability && loud && p >= release)
                || (moving && band_snr_db >= s.band_enter_db);
            if speechy {
                if self.onset_count == 0 {
                    self.onset_start = start;
                }
                self.onset_count += 1;
                if self.onset_count >= s.onset_frames {
                    self.in_speech = true;
                    self.last_speech_end = end;
                    self.quiet_samples = 0;
                    let at = self.onset_start.saturating_sub(ms(s.preroll_ms)).max(self.last_end);
                    emit(Edge::Start { at, speech: self.onset_start });
                }
            } else {
                self.onset_count = 0;
            }
            self.in_speech
        }
    }

    /// End of stream at sample `total`: closes an open region.
    pub fn finish(&mut self, total: u64, mut emit: impl FnMut(Edge)) {
        if self.in_speech {
            self.in_speech = false;
            let at = (self.last_speech_end + ms(self.settings.end_pad_ms)).min(total);
            self.last_end = at;
            emit(Edge::End { at, speech: self.last_speech_end.min(total) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u64 = 256;

    /// Runs the gate over per-frame probabilities (energy follows the probability).
    fn run(probs: &[f32], s: GateSettings) -> Vec<Edge> {
        let mut g = SpeechGate::new(s);
        let mut out = Vec::new();
        for (i, &p) in probs.iter().enumerate() {
            let db = if p > 0.5 { -20.0 } else { -60.0 };
            g.push(i as u64 * F, F, p, db, |e| out.push(e));
        }
        g.finish(probs.len() as u64 * F, |e| out.push(e));
        out
    }

    fn frames(ms: u64) -> usize {
        (ms * 16 / F) as usize
    }

    #[test]
    fn onset_needs_consecutive_frames() {
        let s = GateSettings { onset_frames: 3, ..Default::default() };
        // Two speech frames, a gap, two again: never three in a row.
        let mut p = vec![0.0; 50];
        for i in [10, 11, 13, 14] {
            p[i] = 0.9;
        }
        assert!(run(&p, s.clone()).is_empty());
        p[12] = 0.9;
        let e = run(&p, s);
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn preroll_hangover_and_end_pad_place_edges_exactly() {
        let s = GateSettings::default();
        let mut p = vec![0.0; frames(4000)];
        // Speech from frame 100 to frame 160 (exclusive).
        for x in &mut p[100..160] {
            *x = 0.9;
        }
        let e = run(&p, s.clone());
        let start = 100 * F - ms(s.preroll_ms);
        let end = 160 * F + ms(s.end_pad_ms);
        assert_eq!(e, vec![Edge::Start { at: start, speech: 100 * F }, Edge::End { at: end, speech: 160 * F }]);
    }

    #[test]
    fn pauses_shorter_than_hangover_stay_in_one_region() {
        let s = GateSettings { hangover_ms: 600, ..Default::default() };
        let mut p = vec![0.0; frames(6000)];
        let pause = frames(400);
        for x in &mut p[100..150] {
            *x = 0.9;
        }
        for x in &mut p[150 + pause..200 + pause] {
            *x = 0.9;
        }
        assert_eq!(run(&p, s.clone()).len(), 2, "a 400 ms pause is bridged");
        let long = frames(900);
        let mut p = vec![0.0; frames(6000)];
        for x in &mut p[100..150] {
            *x = 0.9;
        }
        for x in &mut p[150 + long..200 + long] {
            *x = 0.9;
        }
        assert_eq!(run(&p, s).len(), 4, "a 900 ms pause splits");
    }

    #[test]
    fn preroll_never_reaches_into_the_previous_region() {
        let s = GateSettings { hangover_ms: 200, preroll_ms: 1000, end_pad_ms: 0, ..Default::default() };
        let mut p = vec![0.0; 400];
        for x in &mut p[10..40] {
            *x = 0.9;
        }
        for x in &mut p[60..90] {
            *x = 0.9;
        }
        let e = run(&p, s);
        let (Edge::End { at: first_end, .. }, Edge::Start { at: second_start, .. }) = (e[1], e[2]) else { panic!() };
        assert!(second_start >= first_end);
    }

    #[test]
    fn weak_voice_with_energy_is_kept_and_quiet_noise_is_not() {
        let s = GateSettings::default();
        let mut g = SpeechGate::new(s.clone());
        let mut edges = Vec::new();
        // Two seconds of room noise at -60 dB to learn the floor.
        for i in 0..125u64 {
            g.push(i * F, F, 0.02, -60.0, |e| edges.push(e));
        }
        // A quiet voice: probability only 0.35 but 20 dB above the floor.
        for i in 125..200u64 {
            g.push(i * F, F, 0.35, -40.0, |e| edges.push(e));
        }
        assert_eq!(edges.len(), 1, "weak voice opens a region");
        // Noise with the same middling probability but no energy does not.
        let mut g = SpeechGate::new(s);
        let mut edges = Vec::new();
        for i in 0..300u64 {
            g.push(i * F, F, 0.35, -60.0, |e| edges.push(e));
        }
        assert!(edges.is_empty());
    }

    /// A click's energy sits in 8 ms of its frame; a vowel's and a voice's spreads over it.
    #[test]
    fn a_click_is_impulsive_a_voice_is_not() {
        // A 3 ms click in the second quarter of a frame.
        let mut click = vec![0.0f32; 256];
        for (k, v) in click[80..128].iter_mut().enumerate() {
            *v = if k % 2 == 0 { 0.5 } else { -0.5 } * (-(k as f32) / 12.0).exp();
        }
        assert!(is_click(&click));
        // A vowel, and a voice's frames: 120 Hz pulses with their harmonics.
        let vowel: Vec<f32> = (0..256).map(|i| 0.2 * (i as f32 * 0.1).sin()).collect();
        assert!(!is_click(&vowel));
        let voice: Vec<f32> = (0..2_560)
            .map(|i| {
                (1..=20)
                    .map(|k| (2.0 * std::f32::consts::PI * 120.0 * k as f32 * i as f32 / 16_000.0).sin() / k as f32)
                    .sum::<f32>()
                    * 0.1
            })
            .collect();
        assert!(voice.chunks(256).all(|f| !is_click(f)));
    }

    /// Key presses the network is unsure of, with the bands' smoothed SNR held up after each.
    #[test]
    fn typing_the_network_does_not_hear_opens_no_region() {
        // Key presses: frames far above the floor in the speech bands (the band SNR held two
        // frames on by its smoothing) at random, 4-8 a second, which the network gives 0.2-0.45
        // (under its threshold, over the energy assist's release).
        let mut g = SpeechGate::new(GateSettings::default());
        let mut edges = Vec::new();
        let quiet = Frame { p: 0.15, energy_db: -70.0, band_snr_db: 0.0, band_db: Some(-80.0), impulsive: false };
        let mut x = 12_345u32;
        let mut next = 20u64;
        let mut i = 0u64;
        while i < 1_000 {
            let f = if i >= next {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                next = i + 8 + (x >> 16) as u64 % 8;
                [
                    Frame { p: 0.45, energy_db: -25.0, band_snr_db: 10.0, band_db: Some(-30.0), impulsive: true },
                    Frame { p: 0.3, energy_db: -60.0, band_snr_db: 15.0, band_db: Some(-35.0), impulsive: true },
                    Frame { p: 0.2, energy_db: -70.0, band_snr_db: 10.0, band_db: Some(-50.0), impulsive: true },
                ]
            } else {
                [quiet; 3]
            };
            for f in f {
                g.push_frame(i * F, F, f, |e| edges.push(e));
                i += 1;
            }
        }
        assert!(edges.is_empty(), "typing opened a region: {edges:?}");
    }

    /// A voice whose pauses fall to -80 dBFS, then steady hiss at -60 dBFS that the network
    /// gives a middling 0.27 and whose bands stand far above the noise learnt so far: every
    /// weaker kind of evidence says speech, but the level does not move as a voice's does.
    #[test]
    fn steady_hiss_after_a_voice_is_not_speech_however_far_above_the_old_floor() {
        let s = GateSettings::default();
        let mut g = SpeechGate::new(s.clone());
        let mut edges = Vec::new();
        let mut speech = Vec::new();
        let mut i = 0u64;
        let mut feed = |g: &mut SpeechGate, n: u64, f: &dyn Fn(u64) -> Frame, speech: &mut Vec<bool>| {
            for _ in 0..n {
                speech.push(g.push_frame(i * F, F, f(i), |e| edges.push(e)));
                i += 1;
            }
        };
        // Room noise, then a voice: syllables of 0.2 s at -20 dBFS with 0.1 s dips.
        feed(
            &mut g,
            125,
            &|_| Frame { p: 0.02, energy_db: -80.0, band_snr_db: 0.0, band_db: Some(-90.0), impulsive: false },
            &mut speech,
        );
        let syllable = |i: u64| {
            let up = i % 19 < 12;
            Frame {
                p: if up { 0.9 } else { 0.4 },
                energy_db: if up { -20.0 } else { -45.0 },
                band_snr_db: if up { 25.0 } else { 10.0 },
                band_db: Some(if up { -30.0 } else { -55.0 }),
                impulsive: false,
            }
        };
        feed(&mut g, 190, &syllable, &mut speech);
        // A second speaker 15 dB quieter whom the network barely knows: the level still moves.
        let quiet = |i: u64| {
            let up = i % 19 < 12;
            Frame {
                p: 0.3,
                energy_db: if up { -35.0 } else { -60.0 },
                band_snr_db: if up { 15.0 } else { 6.0 },
                band_db: Some(if up { -45.0 } else { -70.0 }),
                impulsive: false,
            }
        };
        let from = speech.len();
        feed(&mut g, 125, &quiet, &mut speech);
        assert!(speech[from..].iter().filter(|&&x| x).count() * 10 >= (speech.len() - from) * 9, "the quiet speaker");
        // Hiss: level within a dB of -60.
        let hiss_at = speech.len();
        let hiss = |i: u64| Frame {
            p: 0.27,
            energy_db: -60.0 + (i % 3) as f32 * 0.4,
            band_snr_db: 12.0,
            band_db: Some(-62.0 + (i % 5) as f32 * 0.3),
            impulsive: false,
        };
        feed(&mut g, 300, &hiss, &mut speech);
        let last = speech.iter().rposition(|&x| x).unwrap();
        assert!(last < hiss_at + 13, "speech {} frames into the hiss", last as i64 - hiss_at as i64);
        assert_eq!(edges.len(), 2, "one region, closed by the hangover: {edges:?}");
        let Edge::End { speech: end, .. } = edges[1] else { panic!("{edges:?}") };
        assert!(end <= (hiss_at as u64 + 13) * F);
        // Without the level (unknown), the same hiss would have held the region open.
        let mut g = SpeechGate::new(s);
        let mut open = true;
        for j in 0..300u64 {
            let mut f = syllable(j);
            if j >= 190 {
                f = hiss(j);
                f.band_db = None;
            }
            g.push_frame(j * F, F, f, |e| open = matches!(e, Edge::Start { .. }));
        }
        assert!(open, "the hiss alone is taken for speech by the weaker evidence");
    }
}
