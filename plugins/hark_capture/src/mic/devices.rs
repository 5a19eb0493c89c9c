//! The input devices the picker and `--list-devices` offer.

use cpal::traits::{DeviceTrait, HostTrait};

/// An input device as the device picker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDevice {
    /// `host:id`, stable across runs; what settings store.
    pub id: String,
    /// Human name.
    pub name: String,
    pub host: String,
    pub is_default: bool,
}

/// The input devices a person would recognise, for the picker and `--list-devices`: the sound
/// server's sources by their own names where PulseAudio's (or PipeWire's) server runs, then
/// ALSA's hardware devices (see [`recognisable`]). Devices that cannot be queried are left out;
/// no devices is an empty list, not an error.
pub fn list_input_devices() -> Vec<InputDevice> {
    recognisable(all_input_devices())
}

/// ALSA's routes into the sound server itself (its `pulse`, `pipewire` and `jack` plugins,
/// and `default` when it leads there).
fn routes_to_server(d: &InputDevice) -> bool {
    let id = d.id.strip_prefix("alsa:").unwrap_or("");
    let server = ["PulseAudio", "PipeWire", "JACK"].iter().any(|s| d.name.contains(s));
    matches!(id, "pulse" | "pipewire" | "jack") || (id == "default" && server)
}

/// `devices` as the picker lists them. Where the sound server's own sources are listed, ALSA's
/// routes into that same server are left out: they are the server's default again under a
/// name like "Playback/recording through the PulseAudio sound server" (still usable by id with
/// `--device`). Microphones come before monitors (what a sink plays), each in the host's order.
pub fn recognisable(devices: Vec<InputDevice>) -> Vec<InputDevice> {
    let server = devices.iter().any(|d| d.host == "PulseAudio");
    let mut out: Vec<InputDevice> =
        devices.into_iter().filter(|d| !(server && d.host == "ALSA" && routes_to_server(d))).collect();
    out.sort_by_key(|d| d.id.ends_with(".monitor"));
    out
}

/// Every input device of every host (PulseAudio first where its server runs, then ALSA).
fn all_input_devices() -> Vec<InputDevice> {
    let mut out = Vec::new();
    for hid in cpal::available_hosts() {
        let Ok(host) = cpal::host_from_id(hid) else {
            continue;
        };
        let default_id = host.default_input_device().and_then(|d| d.id().ok()).map(|i| i.to_string());
        let Ok(devices) = host.input_devices() else {
            continue;
        };
        for dev in devices {
            // A device that cannot give a config (ALSA's default with no sound card) is unusable.
            if dev.default_input_config().is_err() {
                continue;
            }
            let Ok(id) = dev.id() else { continue };
            let id = id.to_string();
            // ALSA's `null` device captures endless zeros: not a microphone.
            if id.ends_with(":null") {
                continue;
            }
            let name = dev.description().map(|d| d.name().to_owned()).unwrap_or_else(|_| dev.to_string());
            out.push(InputDevice {
                is_default: Some(&id) == default_id.as_ref(),
                id,
                name,
                host: hid.name().to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: &str, name: &str, host: &str) -> InputDevice {
        InputDevice { id: id.into(), name: name.into(), host: host.into(), is_default: false }
    }

    #[test]
    fn the_picker_lists_the_servers_sources_not_alsas_routes_into_it() {
        let all = vec![
            dev("pulseaudio:vmic.monitor", "Monitor of Null Output", "PulseAudio"),
            dev("pulseaudio:usb-mic", "USB Microphone Analog Mono", "PulseAudio"),
            dev("alsa:default", "Playback/recording through the PulseAudio sound server", "ALSA"),
            dev("alsa:pulse", "PulseAudio Sound Server", "ALSA"),
            dev("alsa:pipewire", "PipeWire Sound Server", "ALSA"),
            dev("alsa:hw:CARD=PCH,DEV=0", "HDA Intel PCH, ALC3246 Analog", "ALSA"),
        ];
        let ids: Vec<String> = recognisable(all.clone()).into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["pulseaudio:usb-mic", "alsa:hw:CARD=PCH,DEV=0", "pulseaudio:vmic.monitor"]);
        // Without the server's own host (not running, or not built), ALSA's routes are the way in.
        let alsa: Vec<InputDevice> = all.into_iter().filter(|d| d.host == "ALSA").collect();
        assert_eq!(recognisable(alsa.clone()), alsa);
    }
}
