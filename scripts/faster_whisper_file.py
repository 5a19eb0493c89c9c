#!/usr/bin/env python3
"""Transcribe one file with faster-whisper and print JSON (used by scripts/bench-peers).

usage: faster_whisper_file.py MODEL_DIR AUDIO COMPUTE_TYPE VAD(0|1) THREADS
Greedy (beam 1) and English, as Hark decodes; the model is loaded before the clock starts.
"""
import json
import sys
import time

from faster_whisper import WhisperModel

model_dir, audio, compute, vad, threads = sys.argv[1:6]
t0 = time.perf_counter()
model = WhisperModel(model_dir, device="cpu", compute_type=compute, cpu_threads=int(threads))
t1 = time.perf_counter()
segments, _info = model.transcribe(audio, language="en", beam_size=1, vad_filter=vad == "1")
text = " ".join(s.text.strip() for s in segments)
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "transcribe_s": t2 - t1, "text": text}))
