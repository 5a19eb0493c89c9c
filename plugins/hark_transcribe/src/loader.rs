//! Switching models while the app runs: the new model loads on a thread of its own (a large
//! model takes seconds), and replaces the recogniser once it is ready and nothing is in flight.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use crossbeam_channel::Receiver;
use hark_core::PipelineSystems;

use crate::{Engine, EngineError, Recognizer, WhisperEngine, WhisperSettings};

/// Load this model file and transcribe with it from now on.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct LoadModel(pub PathBuf);

/// A model asked for with [`LoadModel`] is loaded (`Ok`, the recogniser now uses it) or could
/// not be (`Err`, with why; the recogniser keeps the model it had).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ModelLoaded {
    pub path: PathBuf,
    pub result: Result<(), String>,
}

/// List the model files again.
#[derive(Message, Debug, Clone, Copy, Default)]
pub struct RefreshModels;

/// Download this catalogue model (`tiny.en`, `base.en`, …) into the models directory, then
/// switch to it.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct FetchModel(pub String);

/// A download asked for with [`FetchModel`] ended: the file (loading now), or why not (with
/// the offline route when the hub cannot be reached).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ModelFetched {
    pub name: String,
    pub result: Result<PathBuf, String>,
}

/// Bring a model from elsewhere into the models directory, then switch to it: a CTranslate2
/// (faster-whisper) model folder is converted to a ggml file (f16), a ggml file is checked and
/// copied.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ImportModel(pub PathBuf);

/// An import asked for with [`ImportModel`] ended: the model file now in the models directory
/// (loading now), or why not.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
pub struct ModelImported {
    pub from: PathBuf,
    pub result: Result<PathBuf, String>,
}

/// An import in progress, on a thread of its own.
#[derive(Debug)]
struct Importing {
    from: PathBuf,
    started: std::time::Instant,
    result: Receiver<Result<PathBuf, String>>,
}

/// A download in progress: bytes done and expected, shared with its thread.
#[derive(Debug)]
struct Fetching {
    name: String,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    total: std::sync::Arc<std::sync::atomic::AtomicU64>,
    result: Receiver<Result<PathBuf, String>>,
}

type Loading = (PathBuf, Receiver<Result<Vec<WhisperEngine>, EngineError>>);

/// The model in use, the one loading, and the models to choose from.
#[derive(Resource, Debug, Default)]
pub struct Models {
    /// The model file the recogniser runs.
    pub current: PathBuf,
    /// Where model files are looked for.
    pub dir: Option<PathBuf>,
    /// ggml model files in `dir`.
    pub available: Vec<PathBuf>,
    settings: WhisperSettings,
    workers: usize,
    loading: Option<Loading>,
    /// A loaded model waiting for the recogniser to finish what it has in flight.
    ready: Option<(PathBuf, Result<Vec<WhisperEngine>, EngineError>)>,
    /// The hub downloads come from (`hark_model::fetch::hub_url()`; tests point it elsewhere).
    pub hub: String,
    fetching: Option<Fetching>,
    importing: Option<Importing>,
    /// A model asked for while another was loading: loaded next.
    queued: Option<PathBuf>,
}

impl Models {
    /// The model being imported, and for how many seconds it has been.
    pub fn importing(&self) -> Option<(&Path, f64)> {
        self.importing.as_ref().map(|i| (i.from.as_path(), i.started.elapsed().as_secs_f64()))
    }

    /// Blocks until the import in progress ends (for tests: frames never wait).
    pub fn wait_import(&mut self) {
        if let Some(i) = self.importing.as_mut() {
            i.result = finished(&i.result, "import");
        }
    }

    /// The model being loaded, if one is.
    pub fn loading(&self) -> Option<&Path> {
        self.loading
            .as_ref()
            .map(|(p, _)| p.as_path())
            .or(self.ready.as_ref().map(|(p, _)| p.as_path()))
            .or(self.queued.as_deref())
    }

    /// The catalogue model being downloaded, with bytes done and expected.
    pub fn fetching(&self) -> Option<(&str, u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.fetching.as_ref().map(|f| (f.name.as_str(), f.done.load(Relaxed), f.total.load(Relaxed)))
    }

    /// Catalogue models with no file in the models directory: what can be downloaded.
    pub fn not_installed(&self) -> Vec<&'static hark_model::KnownModel> {
        hark_model::KNOWN_MODELS
            .iter()
            .filter(|m| !self.available.iter().any(|p| file_name(p) == m.file_name()))
            .collect()
    }

    /// Blocks until the download in progress ends (for tests: frames never wait).
    pub fn wait_fetch(&mut self) {
        if let Some(f) = self.fetching.as_mut() {
            f.result = finished(&f.result, "download");
        }
    }

    /// The current model's file name.
    pub fn current_name(&self) -> String {
        file_name(&self.current)
    }

    /// Blocks until the model being loaded is loaded or refused (for tests: frames never wait).
    pub fn wait(&mut self) {
        if let Some((path, rx)) = self.loading.take() {
            let result = rx.recv().unwrap_or_else(|_| Err(EngineError::Other("the loading thread ended".into())));
            self.ready = Some((path, result));
        }
    }
}

/// A file's name for people.
pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Brings the model at `from` into the models directory `dir` and says where it is: a ggml
/// file is checked and copied; a CTranslate2 model folder is converted (f16) and named as the
/// catalogue names the official model it is identical to (`ggml-tiny.en.bin`), else after the
/// folder. Nothing in `dir` is replaced, and a failure leaves nothing behind.
pub fn import_into(from: &Path, dir: &Path) -> Result<PathBuf, String> {
    let what = "give a CTranslate2 (faster-whisper) model folder or a whisper.cpp ggml .bin file";
    // A path typed or pasted as a shell would take it.
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let expanded = match (from.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => from.to_path_buf(),
    };
    let from = expanded.as_path();
    if !from.exists() {
        return Err(format!("{} does not exist: {what}", from.display()));
    }
    let taken = |p: &Path| {
        format!(
            "a model named {} is already in the models directory: pick it from the list, or remove or rename that file first",
            file_name(p)
        )
    };
    if from.is_file() {
        hark_model::verify(from).map_err(|e| format!("{e}: {what}"))?;
        // Named `*.bin`, as the models directory is listed.
        let mut name = file_name(from);
        if !name.ends_with(".bin") {
            name.push_str(".bin");
        }
        let to = dir.join(name);
        if to.exists() {
            return if std::fs::canonicalize(&to).ok() == std::fs::canonicalize(from).ok() {
                Ok(to)
            } else {
                Err(taken(&to))
            };
        }
        let part = dir.join(format!(".{}.part", file_name(&to)));
        let copied = std::fs::copy(from, &part).and_then(|_| std::fs::rename(&part, &to));
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&part);
            return Err(format!("cannot copy {} into {}: {e}", from.display(), dir.display()));
        }
        return Ok(to);
    }
    // A folder called just "model" (as packages ship it) is named after the folder holding it.
    let named = match file_name(from).as_str() {
        "model" | "models" => from.parent().map_or_else(|| "model".to_owned(), file_name),
        n => n.to_owned(),
    };
    let stem: String =
        named.chars().map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '-' }).collect();
    let to = dir.join(format!("ggml-{stem}.bin"));
    if to.exists() {
        return Err(taken(&to));
    }
    let report = hark_model::import_ct2(from, &to, hark_model::FType::F16).map_err(|e| e.to_string())?;
    if let Some(known) = hark_model::catalog::identify(&report.sha256) {
        let official = dir.join(known.file_name());
        if official == to {
            return Ok(to);
        }
        if official.exists() {
            let _ = std::fs::remove_file(&to);
            return Err(taken(&official));
        }
        if std::fs::rename(&to, &official).is_ok() {
            return Ok(official);
        }
    }
    Ok(to)
}

/// ggml model files (`*.bin`) in `dir`, sorted.
pub fn list_models(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "bin")).collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Model switching for an interactive front end.
#[derive(Debug, Clone, Default)]
pub struct ModelsPlugin {
    /// The model the recogniser starts with.
    pub current: PathBuf,
    /// Settings new models run with.
    pub settings: WhisperSettings,
    /// Recogniser workers (each a whisper state on the one loaded model).
    pub workers: usize,
}

impl Plugin for ModelsPlugin {
    fn build(&self, app: &mut App) {
        let dir = self.current.parent().map(Path::to_path_buf);
        app.add_message::<LoadModel>()
            .add_message::<ModelLoaded>()
            .add_message::<RefreshModels>()
            .add_message::<FetchModel>()
            .add_message::<ModelFetched>()
            .add_message::<ImportModel>()
            .add_message::<ModelImported>()
            .insert_resource(Models {
                current: self.current.clone(),
                available: dir.as_deref().map(list_models).unwrap_or_default(),
                dir,
                settings: self.settings.clone(),
                workers: self.workers.max(1),
                loading: None,
                ready: None,
                hub: hark_model::fetch::hub_url(),
                fetching: None,
                importing: None,
                queued: None,
            })
            .add_systems(
                Update,
                (fetch_models, import_models, start_loading, swap_recognizer).chain().in_set(PipelineSystems::Control),
            );
    }
}

/// What a download's or an import's thread (`what`) has sent: nothing yet, or its result (the
/// thread gone without one is a failure).
fn arrived(rx: &Receiver<Result<PathBuf, String>>, what: &str) -> Option<Result<PathBuf, String>> {
    match rx.try_recv() {
        Err(crossbeam_channel::TryRecvError::Empty) => None,
        r => Some(r.unwrap_or_else(|_| Err(format!("the {what} thread ended")))),
    }
}

/// Blocks until the thread's result is in, and hands it back on a new channel (for tests).
fn finished(rx: &Receiver<Result<PathBuf, String>>, what: &str) -> Receiver<Result<PathBuf, String>> {
    let r = rx.recv().unwrap_or_else(|_| Err(format!("the {what} thread ended")));
    let (tx, again) = crossbeam_channel::bounded(1);
    let _ = tx.send(r);
    again
}

/// A model now in the models directory: listed, and loaded.
fn came_in(models: &mut Models, path: &Path, load: &mut MessageWriter<LoadModel>) {
    models.available = models.dir.as_deref().map(list_models).unwrap_or_default();
    load.write(LoadModel(path.to_path_buf()));
}

/// Starts a download on a thread of its own (one at a time) and, when it ends, lists the
/// models again and loads the new one.
fn fetch_models(
    mut models: ResMut<Models>,
    mut asked: MessageReader<FetchModel>,
    mut fetched: MessageWriter<ModelFetched>,
    mut load: MessageWriter<LoadModel>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    if let Some(f) = models.fetching.take() {
        match arrived(&f.result, "download") {
            None => models.fetching = Some(f),
            Some(result) => {
                if let Ok(path) = &result {
                    came_in(&mut models, path, &mut load);
                }
                fetched.write(ModelFetched { name: f.name, result });
            }
        }
    }
    for FetchModel(name) in asked.read() {
        let (Some(model), Some(dir)) = (hark_model::find_known(name), models.dir.clone()) else {
            fetched.write(ModelFetched { name: name.clone(), result: Err(format!("{name} is not a known model")) });
            continue;
        };
        if models.fetching.is_some() {
            continue;
        }
        let (done, total) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(model.size)));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let (d, t, hub) = (done.clone(), total.clone(), models.hub.clone());
        let spawned = std::thread::Builder::new().name("hark-model-fetch".into()).spawn(move || {
            let r = hark_model::fetch::fetch_from(&hub, model, &dir, |a, b| {
                d.store(a, Relaxed);
                t.store(b, Relaxed);
            });
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        match spawned {
            Ok(_) => models.fetching = Some(Fetching { name: name.clone(), done, total, result: rx }),
            Err(e) => {
                fetched
                    .write(ModelFetched { name: name.clone(), result: Err(format!("cannot start the download: {e}")) });
            }
        }
    }
}

/// Starts an import on a thread of its own (one at a time) and, when it ends, lists the models
/// again and loads the new one.
fn import_models(
    mut models: ResMut<Models>,
    mut asked: MessageReader<ImportModel>,
    mut imported: MessageWriter<ModelImported>,
    mut load: MessageWriter<LoadModel>,
) {
    if let Some(i) = models.importing.take() {
        match arrived(&i.result, "import") {
            None => models.importing = Some(i),
            Some(result) => {
                if let Ok(path) = &result {
                    came_in(&mut models, path, &mut load);
                }
                imported.write(ModelImported { from: i.from, result });
            }
        }
    }
    for ImportModel(from) in asked.read() {
        let Some(dir) = models.dir.clone() else {
            imported.write(ModelImported { from: from.clone(), result: Err("there is no models directory".into()) });
            continue;
        };
        if models.importing.is_some() {
            continue;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let f = from.clone();
        let spawned = std::thread::Builder::new().name("hark-model-import".into()).spawn(move || {
            let _ = tx.send(import_into(&f, &dir));
        });
        match spawned {
            Ok(_) => {
                models.importing =
                    Some(Importing { from: from.clone(), started: std::time::Instant::now(), result: rx });
            }
            Err(e) => {
                imported
                    .write(ModelImported { from: from.clone(), result: Err(format!("cannot start the import: {e}")) });
            }
        }
    }
}

fn start_loading(
    mut models: ResMut<Models>,
    mut load: MessageReader<LoadModel>,
    mut refresh: MessageReader<RefreshModels>,
) {
    if refresh.read().count() > 0 {
        models.available = models.dir.as_deref().map(list_models).unwrap_or_default();
    }
    // The last choice wins; one already loading finishes first, and the newest asked for
    // meanwhile loads after it (a download or an import that ends while another model loads).
    if let Some(LoadModel(path)) = load.read().last().cloned() {
        models.queued = Some(path);
    }
    if models.loading.is_some() || models.ready.is_some() {
        return;
    }
    let Some(path) = models.queued.take() else { return };
    let (tx, rx) = crossbeam_channel::bounded(1);
    let (settings, workers, p) = (models.settings.clone(), models.workers, path.clone());
    let spawned = std::thread::Builder::new().name("hark-model-load".into()).spawn(move || {
        let _ = tx.send(WhisperEngine::load_workers(&p, settings, workers));
    });
    match spawned {
        Ok(_) => models.loading = Some((path, rx)),
        Err(e) => models.ready = Some((path, Err(EngineError::Other(format!("cannot start loading: {e}"))))),
    }
}

fn swap_recognizer(
    mut commands: Commands,
    mut models: ResMut<Models>,
    recognizer: Option<Res<Recognizer>>,
    mut loaded: MessageWriter<ModelLoaded>,
) {
    if let Some((path, rx)) = models.loading.take() {
        match rx.try_recv() {
            Ok(r) => models.ready = Some((path, r)),
            Err(crossbeam_channel::TryRecvError::Empty) => models.loading = Some((path, rx)),
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                models.ready = Some((path, Err(EngineError::Other("the loading thread ended".into()))));
            }
        }
    }
    // Utterances in flight finish on the model they were sent to.
    if recognizer.as_ref().is_some_and(|r| r.in_flight() > 0) {
        return;
    }
    let Some((path, result)) = models.ready.take() else { return };
    match result {
        Ok(engines) => {
            let engines: Vec<Box<dyn Engine>> = engines.into_iter().map(|e| Box::new(e) as Box<dyn Engine>).collect();
            commands.insert_resource(Recognizer::spawn(engines));
            println!("model loaded: {}", file_name(&path));
            models.current = path.clone();
            loaded.write(ModelLoaded { path, result: Ok(()) });
        }
        Err(e) => {
            loaded.write(ModelLoaded { path, result: Err(e.to_string()) });
        }
    }
}
