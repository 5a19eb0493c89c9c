//! Replay of saved sessions: the stored audio comes back as [`AudioChunk`]s of a replay entity,
//! sample-indexed and paced by the app's clock (virtual time in tests) times the chosen speed, so
//! the views and the VAD's speech band run on it exactly as on a live capture.
//!
//! A front end sends [`ReplayRequest`]s (open, play, pause, seek, step, speed, close) and reads
//! the [`Replay`] resource (the session's words and segments, the playhead, what went wrong).
//! The database is read by range on a thread of its own ([`feed`]), a couple of seconds ahead of
//! the playhead, so neither a session of hours nor a slow disk is ever on the frame: replay
//! memory stays bounded by the look-ahead whatever the session's length. Should the reader fall
//! behind, the playhead waits for it rather than skip.
//!
//! Each stretch of contiguous playback is one entity (a seek or a step starts a new one), so a
//! view that places samples by session time never sees audio jump.

pub mod feed;
pub mod sound;
pub mod versions;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use hark_core::{AudioChunk, CaptureEnded, PipelineSystems, SAMPLE_RATE, SessionState, Word};
use hark_store::{SegmentRow, VersionRow};

use feed::{Answer, Feed};
use sound::{SoundState, Speaker};

/// Seconds of audio the reader keeps ready ahead of the playhead (at 1×; more than the sound is
/// fed ahead, [`sound::FEED_AHEAD_SECS`]).
pub const LOOKAHEAD_SECS: f64 = 4.0;
/// Samples one read asks for.
pub const BLOCK: usize = SAMPLE_RATE as usize / 2;
/// The speeds replay offers.
pub const SPEEDS: std::ops::RangeInclusive<f32> = 0.5..=2.0;

/// What a front end asks of replay.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum ReplayRequest {
    /// Open a saved session, paused at its start (or where a `Seek` sent before it is read
    /// says).
    Open(i64),
    Play,
    Pause,
    Toggle,
    /// Move the playhead to this session sample.
    Seek(u64),
    /// Move the playhead by this many seconds (negative: back).
    Step(f64),
    /// Playback speed, clamped to [`SPEEDS`].
    Speed(f32),
    /// Play this span (start, end in session samples) over and over; `None` ends the loop.
    Loop(Option<(u64, u64)>),
    /// Stop replaying and forget the session.
    Close,
    /// Read the open session's words and versions again (another version became current),
    /// without moving the playhead.
    Reload,
    /// Compare two transcript versions of the open session (`None`: stop comparing).
    Compare(Option<(i64, i64)>),
    /// Play through this output device (`host:id`; `None`: the default one) from now on.
    Output(Option<String>),
    /// List the output devices again (off the frame; the list lands in [`Replay::outputs`]).
    ListOutputs,
}

/// A saved session as replay holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    pub id: i64,
    pub title: String,
    pub state: SessionState,
    /// Stored audio, samples (the playhead's end).
    pub samples: u64,
    /// Utterances with their latest transcript, in order.
    pub segments: Vec<SegmentRow>,
    /// Spans no stored audio covers (they play as silence and are marked on the timeline).
    pub gaps: Vec<(u64, u64)>,
    /// Its transcript versions, oldest first (one is current: `segments` are its).
    pub versions: Vec<VersionRow>,
}

impl Replayed {
    /// Whether the session is still being captured or transcribed: its audio and words grow
    /// while it is replayed, and replay reads them again as it goes.
    pub fn growing(&self) -> bool {
        matches!(self.state, SessionState::Recording | SessionState::Captured)
    }

    /// The word under `sample`, as (segment, word) indices: the last word started at or
    /// before it, while it is within that word's segment.
    pub fn word_at(&self, sample: u64) -> Option<(usize, usize)> {
        let s = self.segments.partition_point(|g| g.start_sample <= sample).checked_sub(1)?;
        let seg = &self.segments[s];
        if sample >= seg.end_sample {
            return None;
        }
        let w = seg.words.partition_point(|w| w.start <= sample).checked_sub(1)?;
        Some((s, w))
    }

    /// Every word, in order.
    pub fn words(&self) -> impl Iterator<Item = &Word> {
        self.segments.iter().flat_map(|s| s.words.iter())
    }
}

/// Replay as a front end sees it.
#[derive(Resource, Debug, Clone)]
pub struct Replay {
    /// The session open for replay, once read.
    pub session: Option<Replayed>,
    /// A session asked for and not read yet.
    pub opening: Option<i64>,
    /// Where the session being opened starts (a seek asked before it was read: a search hit
    /// opens at the words that matched).
    pub open_at: Option<u64>,
    /// The playhead, session samples: what has been played (handed to the views) so far.
    pub position: u64,
    pub playing: bool,
    pub speed: f32,
    /// The entity whose chunks carry the played audio (the views follow it).
    pub entity: Option<Entity>,
    /// Why the last request could not be done.
    pub problem: Option<String>,
    /// Whether the replay is heard (`None`: the app has no sound, as in tests and benchmarks).
    pub sound: Option<SoundState>,
    /// The span played over and over, if any.
    pub looping: Option<(u64, u64)>,
    /// Two versions of the session side by side, once read.
    pub comparison: Option<versions::Comparison>,
    /// The output devices, as last listed.
    pub outputs: Vec<sound::OutputDevice>,
    /// The output device asked for (`None`: the default one).
    pub output: Option<String>,
}

impl Default for Replay {
    fn default() -> Self {
        Self {
            session: None,
            opening: None,
            open_at: None,
            position: 0,
            playing: false,
            speed: 1.0,
            entity: None,
            problem: None,
            sound: None,
            looping: None,
            comparison: None,
            outputs: Vec::new(),
            output: None,
        }
    }
}

impl Replay {
    pub fn position_secs(&self) -> f64 {
        hark_core::samples_to_secs(self.position)
    }
}

/// Marks a replay entity: its chunks are a saved session's audio (`.0` is its id), not a capture.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaying(pub i64);

/// Where the next chunk starts and the audio read ahead of it.
#[derive(Resource, Debug, Default)]
struct Playhead {
    /// Session sample of `ready[0]`.
    ready_start: u64,
    ready: VecDeque<f32>,
    /// Reads asked for up to here (session samples).
    asked_end: u64,
    /// Fraction of a sample due but not played yet (virtual time is not a whole number of samples).
    carry: f64,
    /// Reused chunk buffer.
    chunk: Vec<f32>,
    /// App time (seconds) a growing session was last read again.
    refreshed_at: f64,
}

impl Playhead {
    fn ready_end(&self) -> u64 {
        self.ready_start + self.ready.len() as u64
    }

    /// Keeps what is ready from `at` on (when `at` is inside it), else starts over at `at`.
    fn move_to(&mut self, at: u64) {
        if (self.ready_start..=self.ready_end()).contains(&at) {
            self.ready.drain(..(at - self.ready_start) as usize);
        } else {
            self.ready.clear();
            self.asked_end = at;
        }
        self.ready_start = at;
        self.carry = 0.0;
    }
}

/// Replay, reading from the database at `database` (none: nothing is saved, so nothing can be
/// replayed, and each open says so).
#[derive(Debug, Clone)]
pub struct ReplayPlugin {
    pub database: Option<PathBuf>,
    /// Play the sound through an output device ([`sound`]); without it (or without a device)
    /// the playhead follows the app's clock.
    pub sound: bool,
    /// The output device (`host:id`); `None`: the default one.
    pub output: Option<String>,
}

impl Plugin for ReplayPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ReplayRequest>()
            .add_message::<versions::VersionRequest>()
            .init_resource::<versions::RerunStatus>()
            .add_message::<versions::SessionAction>()
            .init_resource::<versions::ActionOutcome>()
            .insert_resource(Replay { output: self.output.clone(), ..default() })
            .insert_resource(SoundWanted(self.sound))
            .init_resource::<ListingOutputs>()
            .init_resource::<Playhead>()
            .insert_resource(Feed::start(self.database.clone()))
            .add_systems(Update, (handle_requests, receive, take_outputs).chain().in_set(PipelineSystems::Control))
            .add_systems(Update, play.in_set(PipelineSystems::Capture));
        if self.sound {
            app.insert_resource(Speaker::start(self.output.clone()));
        }
    }
}

/// Ends the current replay entity, so the views may move on.
fn end_entity(commands: &mut Commands, replay: &mut Replay, ended: &mut MessageWriter<CaptureEnded>) {
    if let Some(e) = replay.entity.take() {
        ended.write(CaptureEnded { session: e, samples: replay.position });
        commands.entity(e).despawn();
    }
}

/// Starts a new replay entity at `at` (a contiguous stretch of playback).
fn restart(
    commands: &mut Commands,
    replay: &mut Replay,
    head: &mut Playhead,
    ended: &mut MessageWriter<CaptureEnded>,
    at: u64,
) {
    end_entity(commands, replay, ended);
    let Some(s) = &replay.session else { return };
    let at = at.min(s.samples);
    replay.position = at;
    head.move_to(at);
    replay.entity = Some(
        commands.spawn((Replaying(s.id), hark_vad::VadStream::default(), hark_vad::SpeechRegions::default())).id(),
    );
}

/// What a new or closed replay keeps of the last one: the speed, the sound and its device.
fn kept(replay: &Replay) -> Replay {
    Replay {
        speed: replay.speed,
        sound: replay.sound.clone(),
        outputs: replay.outputs.clone(),
        output: replay.output.clone(),
        ..default()
    }
}

/// Whether the app has sound at all (the plugin's `sound`).
#[derive(Resource, Debug, Clone, Copy)]
struct SoundWanted(bool);

/// The output devices being listed on a thread.
#[derive(Resource, Default)]
struct ListingOutputs(Option<crossbeam_channel::Receiver<Vec<sound::OutputDevice>>>);

fn take_outputs(mut listing: ResMut<ListingOutputs>, mut replay: ResMut<Replay>) {
    if let Some(rx) = &listing.0
        && let Ok(list) = rx.try_recv()
    {
        replay.outputs = list;
        listing.0 = None;
    }
}

#[allow(clippy::too_many_arguments, reason = "a Bevy system: each parameter is a resource or message it uses")]
fn handle_requests(
    mut commands: Commands,
    sound: Res<SoundWanted>,
    mut outputs: ResMut<ListingOutputs>,
    mut requests: MessageReader<ReplayRequest>,
    mut replay: ResMut<Replay>,
    mut head: ResMut<Playhead>,
    mut feed: ResMut<Feed>,
    mut ended: MessageWriter<CaptureEnded>,
) {
    let (replay, head) = (&mut *replay, &mut *head);
    for r in requests.read() {
        match *r {
            ReplayRequest::Open(id) => {
                end_entity(&mut commands, replay, &mut ended);
                *replay = Replay { opening: Some(id), ..kept(replay) };
                *head = Playhead::default();
                feed.open(id);
            }
            ReplayRequest::Close => {
                end_entity(&mut commands, replay, &mut ended);
                *replay = Replay { ..kept(replay) };
                *head = Playhead::default();
                feed.forget();
            }
            // Asked while a session is being opened, it plays once open.
            ReplayRequest::Play => replay.playing = replay.session.is_some() || replay.opening.is_some(),
            ReplayRequest::Pause => replay.playing = false,
            ReplayRequest::Toggle => {
                // Playing again from the end starts over.
                if let Some(s) = &replay.session
                    && !replay.playing
                    && replay.position >= s.samples
                {
                    restart(&mut commands, replay, head, &mut ended, 0);
                }
                replay.playing = !replay.playing && replay.session.is_some();
            }
            ReplayRequest::Seek(at) if replay.session.is_none() && replay.opening.is_some() => {
                replay.open_at = Some(at);
            }
            ReplayRequest::Seek(at) => restart(&mut commands, replay, head, &mut ended, at),
            ReplayRequest::Step(secs) => {
                let at = (replay.position as f64 + secs * SAMPLE_RATE as f64).max(0.0) as u64;
                restart(&mut commands, replay, head, &mut ended, at);
            }
            ReplayRequest::Reload => {
                if let Some(s) = &replay.session {
                    feed.refresh(s.id);
                }
            }
            ReplayRequest::Compare(None) => replay.comparison = None,
            ReplayRequest::Output(ref device) => {
                replay.output = device.clone();
                if sound.0 {
                    // The old speaker's thread closes its stream when it is dropped.
                    commands.insert_resource(Speaker::start(device.clone()));
                    replay.sound = Some(SoundState::Opening);
                }
            }
            ReplayRequest::ListOutputs => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                let spawned = std::thread::Builder::new().name("hark-outputs".into()).spawn(move || {
                    let _ = tx.send(sound::list_output_devices());
                });
                if spawned.is_ok() {
                    outputs.0 = Some(rx);
                }
            }
            ReplayRequest::Compare(Some((a, b))) => {
                if let Some(s) = &replay.session {
                    feed.compare(s.id, a, b);
                }
            }
            ReplayRequest::Speed(x) => replay.speed = x.clamp(*SPEEDS.start(), *SPEEDS.end()),
            ReplayRequest::Loop(span) => {
                let total = replay.session.as_ref().map_or(0, |s| s.samples);
                replay.looping = span.map(|(a, b)| (a.min(total), b.min(total))).filter(|(a, b)| a < b);
                if let Some((a, b)) = replay.looping
                    && !(a..b).contains(&replay.position)
                {
                    restart(&mut commands, replay, head, &mut ended, a);
                }
            }
        }
    }
}

fn receive(
    mut commands: Commands,
    mut replay: ResMut<Replay>,
    mut head: ResMut<Playhead>,
    mut feed: ResMut<Feed>,
    mut ended: MessageWriter<CaptureEnded>,
) {
    for answer in feed.answers() {
        match answer {
            Answer::Opened(Ok(s)) => {
                replay.opening = None;
                replay.problem = None;
                replay.session = Some(s);
                let at = replay.open_at.take().unwrap_or(0);
                restart(&mut commands, &mut replay, &mut head, &mut ended, at);
            }
            Answer::Refreshed(Ok(s)) => {
                // The same session, grown: more audio, words and perhaps a new state.
                if let Some(old) = replay.session.as_mut().filter(|o| o.id == s.id) {
                    *old = s;
                }
            }
            Answer::Refreshed(Err(e)) | Answer::Compared(Err(e)) => replay.problem = Some(e),
            Answer::Compared(Ok(c)) => {
                if replay.session.as_ref().is_some_and(|s| s.id == c.session) {
                    replay.comparison = Some(c);
                }
            }
            Answer::Opened(Err(e)) => {
                replay.opening = None;
                replay.playing = false;
                replay.problem = Some(e);
            }
            Answer::Audio { start, samples } => {
                if start == head.ready_end() {
                    head.ready.extend(samples.iter());
                }
            }
            Answer::Failed(e) => {
                // Playing again reads again from where it stopped.
                head.asked_end = head.ready_end();
                replay.playing = false;
                replay.problem = Some(e);
            }
        }
    }
}

fn play(
    time: Res<Time>,
    mut replay: ResMut<Replay>,
    mut head: ResMut<Playhead>,
    mut feed: ResMut<Feed>,
    speaker: Option<ResMut<Speaker>>,
    mut chunks: MessageWriter<AudioChunk>,
    (mut commands, mut ended): (Commands, MessageWriter<CaptureEnded>),
) {
    let mut speaker = speaker.map(|mut sp| {
        sp.poll();
        if replay.sound.as_ref() != Some(&sp.state) {
            replay.sound = Some(sp.state.clone());
        }
        sp
    });
    let (Some(s), Some(entity)) = (&replay.session, replay.entity) else {
        if let Some(sp) = speaker.as_mut() {
            sp.follow(false, Entity::PLACEHOLDER, 0, 1.0);
        }
        return;
    };
    let (id, total, growing) = (s.id, s.samples, s.growing());
    let head = &mut *head;
    // A session still being captured: read its length and words again once a second.
    let now = time.elapsed_secs_f64();
    if growing && (now - head.refreshed_at >= 1.0 || now < head.refreshed_at) {
        head.refreshed_at = now;
        feed.refresh(id);
    }
    // A loop goes back to its start when it reaches its end.
    if let Some((a, b)) = replay.looping
        && replay.playing
        && replay.position >= b
    {
        restart(&mut commands, &mut replay, head, &mut ended, a);
        return;
    }
    // Keep the reader a look-ahead in front of the playhead.
    let ahead = replay.position + (LOOKAHEAD_SECS * replay.speed as f64 * SAMPLE_RATE as f64) as u64;
    while head.asked_end < ahead.min(total) {
        let len = BLOCK.min((total - head.asked_end) as usize);
        feed.read(id, head.asked_end, len);
        head.asked_end += len as u64;
    }
    let target = match speaker.as_mut() {
        Some(sp) if sp.state == SoundState::Opening => return,
        Some(sp) if matches!(sp.state, SoundState::On { .. }) => {
            // Heard so far: the playhead follows the device.
            let Some(heard) = sp.follow(replay.playing, entity, replay.position, replay.speed) else { return };
            let feed_to = (heard + (sound::FEED_AHEAD_SECS * replay.speed as f64 * SAMPLE_RATE as f64) as u64)
                .min(head.ready_end());
            while let Some(fed) = sp.fed_end().filter(|&f| f < feed_to) {
                let from = (fed - head.ready_start) as usize;
                let n = ((feed_to - fed) as usize).min(BLOCK);
                let ready = head.ready.make_contiguous();
                sp.feed(&ready[from..from + n], fed + n as u64 == total);
            }
            heard
        }
        _ => {
            if !replay.playing {
                return;
            }
            let due = time.delta_secs_f64() * replay.speed as f64 * SAMPLE_RATE as f64 + head.carry;
            let want = due.floor() as u64;
            // What is not read yet waits (the playhead holds); the fraction carries on.
            head.carry = if replay.position + want <= head.ready_end() { due - want as f64 } else { 0.0 };
            replay.position + want
        }
    };
    let target = replay.looping.map_or(target, |(_, b)| target.min(b));
    let n = target.min(head.ready_end()).saturating_sub(replay.position);
    if n > 0 {
        head.chunk.clear();
        head.chunk.extend(head.ready.drain(..n as usize));
        chunks.write(AudioChunk { session: entity, start: replay.position, samples: Arc::from(&head.chunk[..]) });
        head.ready_start += n;
        replay.position += n;
    }
    // At the end of what is stored; a session still recording waits there for more.
    if replay.position >= total && !growing && replay.looping.is_none() {
        replay.playing = false;
    }
}
