//! Files dropped on the window: each is transcribed as a session of its own
//! (`hark_capture::TranscribeFile`).

use bevy::prelude::*;
use bevy::window::FileDragAndDrop;
use hark_capture::TranscribeFile;

/// A file dropped on the window is transcribed as a session of its own.
pub(crate) fn transcribe_dropped_files(
    mut drops: MessageReader<FileDragAndDrop>,
    mut files: MessageWriter<TranscribeFile>,
) {
    for d in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = d {
            files.write(TranscribeFile(path_buf.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn a_file_dropped_on_the_window_is_asked_to_be_transcribed_and_nothing_else_is() {
        let mut app = App::new();
        app.add_message::<FileDragAndDrop>()
            .add_message::<TranscribeFile>()
            .add_systems(Update, transcribe_dropped_files);
        let window = Entity::PLACEHOLDER;
        let path = PathBuf::from("/home/me/talk.mp3");
        app.world_mut().write_message_batch([
            FileDragAndDrop::HoveredFile { window, path_buf: path.clone() },
            FileDragAndDrop::HoveredFileCanceled { window },
            FileDragAndDrop::DroppedFile { window, path_buf: path.clone() },
        ]);
        app.update();
        let asked: Vec<_> =
            app.world().resource::<Messages<TranscribeFile>>().iter_current_update_messages().cloned().collect();
        assert_eq!(asked, vec![TranscribeFile(path)]);
    }
}
