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
}

impl Models {
    /// The model being loaded, if one is.
    pub fn loading(&self) -> Option<&Path> {
        self.loading.as_ref().map(|(p, _)| p.as_path()).or(self.ready.as_ref().map(|(p, _)| p.as_path()))
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
            .insert_resource(Models {
                current: self.current.clone(),
                available: dir.as_deref().map(list_models).unwrap_or_default(),
                dir,
                settings: self.settings.clone(),
                workers: self.workers.max(1),
                loading: None,
                ready: None,
            })
            .add_systems(Update, (start_loading, swap_recognizer).chain().in_set(PipelineSystems::Control));
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
    // The last choice wins; one already loading finishes first.
    let Some(LoadModel(path)) = load.read().last().cloned() else { return };
    if models.loading.is_some() {
        return;
    }
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
