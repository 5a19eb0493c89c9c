use super::*;
use hark_core::HarkCorePlugin;

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((HarkCorePlugin, SegmentPlugin));
    app
}

fn chunk(app: &mut App, session: Entity, start: u64, samples: Vec<f32>) {
    app.world_mut().write_message(AudioChunk { session, start, samples: samples.into() });
}

fn utterances(app: &mut App) -> Vec<(Utterance, usize)> {
    let mut q = app.world_mut().query::<(&Utterance, &UtteranceAudio)>();
    let mut v: Vec<_> = q.iter(app.world()).map(|(u, a)| (*u, a.0.len())).collect();
    v.sort_by_key(|(u, _)| u.index);
    v
}

#[test]
fn a_region_becomes_an_utterance_with_exactly_its_audio() {
    let mut app = app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    // Samples carry their own index so the cut can be checked exactly.
    chunk(&mut app, s, 0, (0..48_000).map(|i| i as f32).collect());
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 8_000 });
    app.world_mut().write_message(SpeechEdge::End { session: s, at: 40_000 });
    app.update();
    let mut q = app.world_mut().query::<(&Utterance, &UtteranceAudio)>();
    let (u, a) = q.single(app.world()).unwrap();
    assert_eq!((u.start, u.end, u.index), (8_000, 40_000, 0));
    assert_eq!(a.0.len(), 32_000);
    assert_eq!(a.0[0], 8_000.0);
    assert_eq!(a.0[31_999], 39_999.0);
}

#[test]
fn blips_are_dropped() {
    let mut app = app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 16_000]);
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 1_000 });
    app.world_mut().write_message(SpeechEdge::End { session: s, at: 3_000 });
    app.update();
    assert!(utterances(&mut app).is_empty());
}

#[test]
fn long_speech_is_split_at_the_quietest_point_before_the_limit() {
    let mut app = app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    // 60 s of loud signal with one quiet 50 ms dip at 22.0 s.
    let mut x: Vec<f32> = (0..60 * 16_000).map(|i| ((i as f32) * 0.05).sin() * 0.5).collect();
    for v in &mut x[22 * 16_000..22 * 16_000 + 800] {
        *v *= 0.01;
    }
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
    // Feed one second per update, as live capture does.
    for (i, c) in x.chunks(16_000).enumerate() {
        chunk(&mut app, s, (i * 16_000) as u64, c.to_vec());
        app.update();
    }
    app.world_mut().write_message(CaptureEnded { session: s, samples: x.len() as u64 });
    app.update();
    let u = utterances(&mut app);
    assert!(u.len() >= 3, "{u:?}");
    let first = u[0].0;
    assert!((22 * 16_000..22 * 16_000 + 800).contains(&first.end), "cut at the dip, got {}", first.end);
    // Contiguous, none over the limit, all audio accounted for.
    for w in u.windows(2) {
        assert_eq!(w[0].0.end, w[1].0.start);
    }
    assert!(u.iter().all(|(u, n)| u.end - u.start <= 25 * 16_000 && *n as u64 == u.end - u.start));
    assert_eq!(u.last().unwrap().0.end, x.len() as u64);
    let done = app.world().get::<SessionSegmenter>(s).unwrap();
    assert!(done.is_done());
    assert_eq!((done.audio.capacity(), done.vad.capacity()), (0, 0), "a finished session keeps no audio");
}

fn merging_app() -> App {
    let mut app = app();
    app.insert_resource(SegmentSettings { merge_gap_secs: 1.6, ..Default::default() });
    app
}

fn spans(app: &mut App) -> Vec<(u64, u64)> {
    utterances(app).iter().map(|(u, _)| (u.start, u.end)).collect()
}

const S: u64 = 16_000;

/// Speech regions at 1-3 s and 4-6 s.
fn two_regions_a_second_apart(app: &mut App, s: Entity) {
    for e in [
        SpeechEdge::Start { session: s, at: S },
        SpeechEdge::End { session: s, at: 3 * S },
        SpeechEdge::Start { session: s, at: 4 * S },
        SpeechEdge::End { session: s, at: 6 * S },
    ] {
        app.world_mut().write_message(e);
    }
}

#[test]
fn regions_a_short_pause_apart_become_one_utterance_without_most_of_the_pause() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, (0..10 * S).map(|i| i as f32).collect());
    two_regions_a_second_apart(&mut app, s);
    app.update();
    let mut q = app.world_mut().query::<(&Utterance, &UtteranceAudio, &UtteranceGaps)>();
    let (u, a, g) = q.single(app.world()).unwrap();
    assert_eq!((u.start, u.end), (S, 6 * S));
    // 0.5 s of the 1 s pause stays (merge_keep_secs), the other half is left out.
    let h = S / 2;
    assert_eq!(a.0.len() as u64, 4 * S + h);
    assert_eq!((a.0[(2 * S + h) as usize - 1], a.0[(2 * S + h) as usize]), ((3 * S + h - 1) as f32, (4 * S) as f32));
    assert_eq!(g.0, vec![(2 * S + h, h)]);
    assert_eq!(g.to_session(u.start, 2 * S + h), 4 * S);
    // The session spans it is made of give back exactly its audio (how a recogniser reads the
    // audio of a spilled utterance from the store).
    let pieces = g.pieces(u.start, u.end);
    assert_eq!(pieces, vec![(S, 3 * S + h), (4 * S, 6 * S)]);
    let rebuilt: Vec<f32> = pieces.iter().flat_map(|&(a, b)| (a..b).map(|i| i as f32)).collect();
    assert_eq!(&rebuilt[..], &a.0[..]);
}

#[test]
fn a_session_with_settings_of_its_own_is_cut_by_them_and_the_others_by_the_apps() {
    // The app cuts at every pause (live); one session joins pauses (a file in the window).
    let mut app = app();
    app.insert_resource(SegmentSettings { merge_gap_secs: 0.0, ..Default::default() });
    let session = |app: &mut App| {
        app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id()
    };
    let live = session(&mut app);
    let file = session(&mut app);
    app.world_mut()
        .entity_mut(file)
        .insert(SessionSegmentSettings(SegmentSettings { merge_gap_secs: 1.6, ..Default::default() }));
    for s in [live, file] {
        chunk(&mut app, s, 0, vec![0.1; (10 * S) as usize]);
        two_regions_a_second_apart(&mut app, s);
    }
    app.update();
    let mut q = app.world_mut().query::<&Utterance>();
    let mut cut: Vec<(Entity, u64, u64)> = q.iter(app.world()).map(|u| (u.session, u.start, u.end)).collect();
    cut.sort_unstable();
    let mut expected = vec![(live, S, 3 * S), (live, 4 * S, 6 * S), (file, S, 6 * S)];
    expected.sort_unstable();
    assert_eq!(cut, expected);
}

#[test]
fn regions_a_long_pause_apart_stay_apart() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 12 * S as usize]);
    for e in [
        SpeechEdge::Start { session: s, at: S },
        SpeechEdge::End { session: s, at: 3 * S },
        SpeechEdge::Start { session: s, at: 4 * S + S * 7 / 10 },
        SpeechEdge::End { session: s, at: 6 * S },
    ] {
        app.world_mut().write_message(e);
    }
    app.update();
    assert_eq!(spans(&mut app), vec![(S, 3 * S), (4 * S + S * 7 / 10, 6 * S)]);
}

#[test]
fn a_closed_region_waits_for_the_gap_and_lookahead_in_sample_time() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 5 * S as usize]);
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: S });
    app.world_mut().write_message(SpeechEdge::End { session: s, at: 3 * S });
    app.update();
    // 3 s + 1.6 s gap + 1 s lookahead = 5.6 s: the audio has reached only 5 s.
    assert!(spans(&mut app).is_empty());
    assert!(!app.world().get::<SessionSegmenter>(s).unwrap().is_done());
    chunk(&mut app, s, 5 * S, vec![0.1; S as usize]);
    app.update();
    assert_eq!(spans(&mut app), vec![(S, 3 * S)]);
}

#[test]
fn joined_regions_are_cut_where_they_met_before_the_limit() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    // Twenty 3 s regions, 1 s apart, all arriving in one update (a file read fast).
    chunk(&mut app, s, 0, vec![0.1; 82 * S as usize]);
    for i in 0..20 {
        app.world_mut().write_message(SpeechEdge::Start { session: s, at: (1 + 4 * i) * S });
        app.world_mut().write_message(SpeechEdge::End { session: s, at: (4 + 4 * i) * S });
    }
    app.world_mut().write_message(CaptureEnded { session: s, samples: 82 * S });
    app.update();
    let u = spans(&mut app);
    // Whisper hears each region and 0.5 s of each pause: 25 s of that is reached 0.5 s into
    // the eighth region, and the cut goes back to the pause before it.
    assert_eq!(u, vec![(S, 28 * S), (29 * S, 56 * S), (57 * S, 80 * S)]);
    let mut q = app.world_mut().query::<&UtteranceAudio>();
    assert!(q.iter(app.world()).all(|a| a.0.len() as u64 <= 25 * S));
}

/// Loud audio with a quiet 50 ms dip at each of `dips` (seconds, a dip's level its second).
fn loud_with_dips(secs: u64, dips: &[(f64, f32)]) -> Vec<f32> {
    let mut x: Vec<f32> = (0..secs * S).map(|i| ((i as f32) * 0.05).sin() * 0.5).collect();
    for &(at, level) in dips {
        let from = (at * S as f64) as usize;
        for v in &mut x[from..from + 800] {
            *v *= level;
        }
    }
    x
}

/// The utterances cut from `x` as a file is (pauses joined, one update a second) with speech
/// from 0 to `speech_end` (seconds; `None`: to the end of the file).
fn cut_file(x: &[f32], speech_end: Option<f64>) -> Vec<(u64, u64)> {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
    let end = speech_end.map(|e| (e * S as f64) as u64);
    for (i, c) in x.chunks(S as usize).enumerate() {
        let pos = (i as u64) * S;
        chunk(&mut app, s, pos, c.to_vec());
        // The end edge once the audio is 0.2 s past it, as the VAD sends it.
        if let Some(at) = end.filter(|&at| at + S / 5 > pos && at + S / 5 <= pos + S) {
            app.world_mut().write_message(SpeechEdge::End { session: s, at });
        }
        app.update();
    }
    app.world_mut().write_message(CaptureEnded { session: s, samples: x.len() as u64 });
    app.update();
    spans(&mut app)
}

#[test]
fn speech_ending_just_past_the_limit_keeps_its_last_words() {
    // 27 s of speech whose quietest moment before the 25 s limit is at 24.5 s: cut there, its
    // last 2.5 s would be an utterance of their own. It is kept whole (whisper's window holds
    // it with 3 s to spare).
    let x = loud_with_dips(32, &[(24.5, 0.01)]);
    assert_eq!(cut_file(&x, Some(27.0)), vec![(0, 27 * S)]);
    // Speech going on past the stretch is cut at the limit's quietest moment, as before.
    for end in [Some(29.0), None] {
        let u = cut_file(&x, end);
        assert_eq!(u.len(), 2, "{u:?}");
        assert!((24 * S + S / 2..24 * S + S / 2 + 800).contains(&u[0].1), "cut at the dip at 24.5 s, got {u:?}");
    }
}

/// Feeds `secs` of audio in chunks of `chunk` samples, each edge in the update where the
/// VAD would send it (`emit`, a sample position), and ends the capture.
fn feed(chunk: u64, secs: u64, edges: &[(bool, u64, u64)]) -> Vec<(u64, u64)> {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    let total = secs * S;
    let mut pos = 0;
    while pos < total {
        let n = chunk.min(total - pos);
        chunk_at(&mut app, s, pos, n);
        pos += n;
        for &(start, at, _) in edges.iter().filter(|e| e.2 > pos - n && e.2 <= pos) {
            let e = if start { SpeechEdge::Start { session: s, at } } else { SpeechEdge::End { session: s, at } };
            app.world_mut().write_message(e);
        }
        app.update();
    }
    app.world_mut().write_message(CaptureEnded { session: s, samples: total });
    app.update();
    spans(&mut app)
}

fn chunk_at(app: &mut App, session: Entity, start: u64, n: u64) {
    // A dip every 4 s gives the quietest-point search something to find.
    chunk(app, session, start, (start..start + n).map(|i| if i % (4 * S) < 800 { 0.001 } else { 0.1 }).collect());
}

#[test]
fn cuts_do_not_depend_on_how_the_audio_was_chunked() {
    // A region ending 0.1 s before the 25 s limit, another joined to it; end edges arrive
    // 0.2 s after their position and start edges 0.55 s after, as the VAD sends them.
    let ms = |x: u64| x * S / 1000;
    let edges = [
        (true, 0, ms(550)),
        (false, ms(24_900), ms(25_100)),
        (true, ms(26_000), ms(26_550)),
        (false, ms(30_000), ms(30_200)),
    ];
    let whole = feed(40 * S, 40, &edges);
    assert_eq!(whole, vec![(0, ms(24_900)), (ms(26_000), ms(30_000))]);
    for chunk in [S / 100, S / 10, S, 5 * S] {
        assert_eq!(feed(chunk, 40, &edges), whole, "chunks of {chunk} samples");
    }
}

#[test]
fn capture_end_releases_a_waiting_region() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 4 * S as usize]);
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: S });
    app.world_mut().write_message(SpeechEdge::End { session: s, at: 3 * S });
    app.world_mut().write_message(CaptureEnded { session: s, samples: 4 * S });
    app.update();
    assert_eq!(spans(&mut app), vec![(S, 3 * S)]);
    assert!(app.world().get::<SessionSegmenter>(s).unwrap().is_done());
}

#[test]
fn capture_end_closes_an_open_utterance() {
    let mut app = app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 32_000]);
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 16_000 });
    app.world_mut().write_message(CaptureEnded { session: s, samples: 32_000 });
    app.update();
    let u = utterances(&mut app);
    assert_eq!((u[0].0.start, u[0].0.end), (16_000, 32_000));
}

/// Live audio with VAD frames: speech (frames marked speech) for `speech` 16 ms frames
/// from `from`, then silence up to `to`, fed one 16 ms frame per update.
fn feed_live(app: &mut App, s: Entity, from: u64, to: u64, speech: impl Fn(u64) -> bool) -> Vec<OpenSpeech> {
    let mut cursor = app.world().resource::<Messages<OpenSpeech>>().get_cursor();
    let mut sent = Vec::new();
    let mut t = from;
    while t < to {
        chunk(app, s, t, vec![0.1; 256]);
        app.world_mut().write_message(VadFrame { session: s, start: t, probability: 0.0, speech: speech(t) });
        app.update();
        sent.extend(cursor.read(app.world().resource::<Messages<OpenSpeech>>()).cloned());
        t += 256;
    }
    sent
}

#[test]
fn a_final_is_decoded_speculatively_at_the_first_silence_and_kept_only_if_nothing_follows() {
    let mut app = app();
    app.insert_resource(SegmentSettings { partial_interval_secs: 0.0, ..SegmentSettings::live() });
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
    // Speech to 1.024 s, a 0.3 s pause, speech again to 2.048 s, then silence.
    let speaking = |t: u64| t < 16_384 || (21_248..32_768).contains(&t);
    let sent = feed_live(&mut app, s, 0, 40_960, speaking);
    let spec: Vec<(u64, usize)> = sent.iter().filter(|o| o.speculative).map(|o| (o.start, o.audio.len())).collect();
    // One at each pause, live's delay (to the frame) after its last speech frame: the first one
    // is wrong (the speaker went on).
    let after = (SegmentSettings::LIVE_SPECULATE_AFTER_SECS * 16_000.0 / 256.0).ceil() as usize * 256;
    assert_eq!(spec, vec![(0, 16_384 + after), (0, 32_768 + after)], "{spec:?}");
    // The VAD closes the utterance after its hangover: it carries the second speculation.
    app.world_mut().write_message(SpeechEdge::End { session: s, at: 32_768 + 6_400 });
    app.update();
    let mut q = app.world_mut().query::<(&Utterance, Option<&SpeculativeFinal>, Option<&SpeechEnd>)>();
    let (u, spec, end) = q.single(app.world()).unwrap();
    assert_eq!((u.start, u.end), (0, 32_768 + 6_400));
    assert_eq!(spec, Some(&SpeculativeFinal { end: 32_768 + after as u64 }));
    assert_eq!(end, Some(&SpeechEnd(32_768)));
}

#[test]
fn with_no_delay_the_speculation_waits_for_the_first_silence_frame() {
    let mut app = app();
    let live = SegmentSettings::live();
    app.insert_resource(SegmentSettings { partial_interval_secs: 0.0, speculate_after_secs: Some(0.0), ..live });
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
    // One second of speech frames, then four of silence: nothing while the speaker speaks.
    let sent = feed_live(&mut app, s, 0, 16_384 + 1_024, |t| t < 16_384);
    let spec: Vec<usize> = sent.iter().filter(|o| o.speculative).map(|o| o.audio.len()).collect();
    assert_eq!(spec, vec![16_384 + 256], "one speculation, at the first silence frame");
}

#[test]
fn speech_after_the_speculation_leaves_the_utterance_without_it() {
    let mut app = app();
    let live = SegmentSettings::live();
    app.insert_resource(SegmentSettings { partial_interval_secs: 0.0, speculate_after_secs: Some(0.1), ..live });
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
    // Speech, a pause long enough to speculate, then one more speech frame just before the
    // end edge (a word the hangover caught).
    let sent = feed_live(&mut app, s, 0, 24_064, |t| t < 16_384 || t == 22_528);
    assert_eq!(sent.iter().filter(|o| o.speculative).count(), 1, "the second pause was not long enough");
    app.world_mut().write_message(SpeechEdge::End { session: s, at: 24_064 });
    app.update();
    let mut q = app.world_mut().query::<(&Utterance, Option<&SpeculativeFinal>, Option<&SpeechEnd>)>();
    let (_, spec, end) = q.single(app.world()).unwrap();
    assert_eq!(spec, None);
    assert_eq!(end, Some(&SpeechEnd(22_784)));
}

#[test]
fn an_utterance_knows_where_the_vad_heard_speech_in_its_audio() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 10 * S as usize]);
    // Speech frames in 1.2-2.8 s and 4.096-5.76 s (frames of 256 samples).
    for f in 0..10 * S / 256 {
        let t = f * 256;
        let speech = (19_200..44_800).contains(&t) || (65_536..92_160).contains(&t);
        app.world_mut().write_message(VadFrame { session: s, start: t, probability: 0.9, speech });
    }
    two_regions_a_second_apart(&mut app, s);
    app.update();
    let mut q = app.world_mut().query::<(&Utterance, &UtteranceSpeech)>();
    let (u, sp) = q.single(app.world()).unwrap();
    assert_eq!((u.start, u.end), (S, 6 * S));
    // Offsets into the audio: the second region follows 0.5 s of the pause (the rest is left out).
    let h = S / 2;
    assert_eq!(sp.0, vec![(19_200 - S, 44_800 - S), (2 * S + h + 65_536 - 4 * S, 2 * S + h + 92_160 - 4 * S)]);
}

#[test]
fn an_utterances_speech_runs_from_each_regions_first_speech_frame_to_its_last() {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    chunk(&mut app, s, 0, vec![0.1; 10 * S as usize]);
    // Regions at 1-3 s and 4-6 s (joined, 0.5 s of the pause kept). Speech frames at 1.2-1.6 s
    // and 2.4-2.8 s, with a word's pause and a click between them that the VAD did not call
    // speech, and at 4.096-4.608 s.
    let frames: Vec<u64> = (0..10 * S / 256).map(|f| f * 256).collect();
    for &t in &frames {
        let speech = (19_200..25_600).contains(&t) || (38_400..44_800).contains(&t) || (65_536..73_728).contains(&t);
        app.world_mut().write_message(VadFrame { session: s, start: t, probability: 0.9, speech });
    }
    two_regions_a_second_apart(&mut app, s);
    app.update();
    let mut q = app.world_mut().query::<(&Utterance, &UtteranceVad)>();
    let (u, vad) = q.single(app.world()).unwrap();
    assert_eq!((u.start, u.end), (S, 6 * S));
    // Kept frames: 1-3.5 s and 4-6 s. Speech: 1.2-2.8 s of the first region (its pause and
    // click in it) and 4.096-4.608 s of the second; the kept pause between the regions is not.
    let kept = |t: u64| (S..3 * S + S / 2).contains(&t) || (4 * S..6 * S).contains(&t);
    let n = frames.iter().filter(|&&t| kept(t)).count();
    let speech = frames.iter().filter(|&&t| (19_200..44_800).contains(&t) || (65_536..73_728).contains(&t)).count();
    assert_eq!(vad.speech_fraction, speech as f32 / n as f32);
}

/// Two regions a second apart (1-3 s and 4-6 s, both heard as speech) at the given levels;
/// returns the utterances' spans.
fn two_voices(second_level: f32) -> Vec<(u64, u64)> {
    two_voices_heard(second_level, 2 * S)
}

/// [`two_voices`] with only the first `first_speech` samples of the first region heard as
/// speech.
fn two_voices_heard(second_level: f32, first_speech: u64) -> Vec<(u64, u64)> {
    let mut app = merging_app();
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    let audio =
        (0..10 * S).map(|i| if i < 35 * S / 10 { 0.1 } else { second_level } * if i % 2 == 0 { 1.0 } else { -1.0 });
    chunk(&mut app, s, 0, audio.collect());
    for f in 0..10 * S / 256 {
        let t = f * 256;
        let speech = (S..S + first_speech).contains(&t) || (4 * S..6 * S).contains(&t);
        app.world_mut().write_message(VadFrame { session: s, start: t, probability: 0.9, speech });
    }
    two_regions_a_second_apart(&mut app, s);
    app.update();
    spans(&mut app)
}

#[test]
fn a_voice_far_quieter_than_the_one_before_gets_its_own_utterance() {
    // 26 dB quieter (a whisper after a talker): in one window with the talker whisper skipped it.
    assert_eq!(two_voices(0.005), vec![(S, 3 * S), (4 * S, 6 * S)]);
    // 14 dB quieter is one speaker moving, or the next sentence: joined as before.
    assert_eq!(two_voices(0.02), vec![(S, 6 * S)]);
    // Far louder after quiet is cut the same way.
    assert_eq!(two_voices(2.0), vec![(S, 3 * S), (4 * S, 6 * S)]);
    // But 0.3 s taken for speech before a voice 26 dB louder (a click, a breath at the start
    // of a recording) stays with it: alone it would cost a decode that hears nothing.
    assert_eq!(two_voices_heard(2.0, S * 3 / 10), vec![(S, 6 * S)]);
    assert_eq!(two_voices_heard(2.0, S * 11 / 10), vec![(S, 3 * S), (4 * S, 6 * S)]);
}

#[test]
fn partials_keep_to_their_interval_however_the_audio_arrives() {
    let mut app = app();
    app.insert_resource(SegmentSettings { speculate_after_secs: None, ..SegmentSettings::live() });
    let s = app.world_mut().spawn(Session { kind: hark_core::SourceKind::Memory, source: "test".into() }).id();
    app.world_mut().write_message(SpeechEdge::Start { session: s, at: 0 });
    // 6 s of speech in chunks of 0.192 s, which do not divide the 0.5 s interval.
    let every = (SegmentSettings::LIVE_PARTIAL_INTERVAL_SECS * S as f64) as u64;
    let mut cursor = app.world().resource::<Messages<OpenSpeech>>().get_cursor();
    let mut ends = Vec::new();
    let mut t = 0;
    while t < 6 * S {
        chunk(&mut app, s, t, vec![0.1; 3_072]);
        for f in 0..12 {
            app.world_mut().write_message(VadFrame { session: s, start: t + f * 256, probability: 0.9, speech: true });
        }
        app.update();
        ends.extend(cursor.read(app.world().resource::<Messages<OpenSpeech>>()).map(|o| o.audio.len() as u64));
        t += 3_072;
    }
    // The n-th partial is sent with the first chunk that reaches n intervals: the wait for a
    // chunk does not add up from one partial to the next.
    assert_eq!(ends.len() as u64, 6 * S / every, "{ends:?}");
    for (n, &end) in ends.iter().enumerate() {
        let due = (n as u64 + 1) * every;
        assert!((due..due + 3_072).contains(&end), "partial {n} sent at {end}, due at {due}: {ends:?}");
    }
}
