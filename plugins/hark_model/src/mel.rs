//! Whisper's mel filterbank, computed bit-exactly as librosa (Slaney scale and normalisation)
//! and as stored in the official ggml files.

/// Number of FFT bins for whisper's 400-point FFT.
pub const N_BINS: usize = 201;

/// The `[n_mels][201]` filterbank, row-major.
pub fn filters(n_mels: usize) -> Vec<f32> {
    const SR: f64 = 16000.0;
    const N_FFT: usize = 400;
    let f_sp = 200.0_f64 / 3.0;
    let min_log_hz = 1000.0_f64;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4_f64.ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= min_log_hz { min_log_mel + (f / min_log_hz).ln() / logstep } else { f / f_sp }
    };
    let mel_to_hz = |m: f64| {
        if m >= min_log_mel { min_log_hz * (logstep * (m - min_log_mel)).exp() } else { f_sp * m }
    };
    let val = 1.0 / (N_FFT as f64 * (1.0 / SR));
    let fftfreqs: Vec<f64> = (0..N_BINS).map(|k| k as f64 * val).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SR / 2.0));
    let step = (hi - lo) / (n_mels + 1) as f64;
    let mut mels: Vec<f64> = (0..n_mels + 2).map(|i| i as f64 * step + lo).collect();
    mels[n_mels + 1] = hi;
    let mel_f: Vec<f64> = mels.iter().map(|&m| mel_to_hz(m)).collect();
    let mut out = vec![0.0f32; n_mels * N_BINS];
    for i in 0..n_mels {
        let fd_lo = mel_f[i + 1] - mel_f[i];
        let fd_hi = mel_f[i + 2] - mel_f[i + 1];
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fftfreqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / fd_lo;
            let upper = (mel_f[i + 2] - f) / fd_hi;
            let m = lower.min(upper);
            // Two roundings, as librosa does: the triangle is an f32 array, then scaled in f64.
            let w: f32 = if m > 0.0 { m as f32 } else { 0.0 };
            out[i * N_BINS + k] = (w as f64 * enorm) as f32;
        }
    }
    out
}

/// The ggml mel block: `i32 n_mels, i32 201, f32[n_mels*201]`.
pub fn filter_block(n_mels: usize) -> Vec<u8> {
    let f = filters(n_mels);
    let mut out = Vec::with_capacity(8 + f.len() * 4);
    out.extend_from_slice(&(n_mels as i32).to_le_bytes());
    out.extend_from_slice(&(N_BINS as i32).to_le_bytes());
    for x in f {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}
