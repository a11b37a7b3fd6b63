//! The Synapse harness on Docker: the `matrixdotorg/synapse` image of the same version as the
//! local virtualenv, configured the same way (the image generates its configuration, then our
//! test overrides are layered on top, exactly as the local harness does), through testcontainers.
//! Chosen with `CHATRIXCD_SYNAPSE=docker`; built with the `docker` feature.

use std::path::Path;

use testcontainers::core::{ExecCommand, IntoContainerPort, Mount};
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use crate::synapse::{SYNAPSE_VERSION, SynapseError};

/// A started Synapse container; dropping it removes the container.
pub struct Running {
    container: Container<GenericImage>,
    pub host_port: u16,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("id", &self.container.id()).field("host_port", &self.host_port).finish()
    }
}

fn failed(step: &'static str, detail: impl std::fmt::Display) -> SynapseError {
    SynapseError::Failed { step, detail: detail.to_string() }
}

/// Why Docker cannot be used here, if it cannot: no daemon socket and no `DOCKER_HOST`.
pub fn unavailable() -> Option<String> {
    if std::env::var_os("DOCKER_HOST").is_some() {
        return None;
    }
    let socket = Path::new("/var/run/docker.sock");
    if socket.exists() {
        return None;
    }
    Some(format!("no Docker daemon: {} does not exist and DOCKER_HOST is unset", socket.display()))
}

/// The image; `CHATRIXCD_SYNAPSE_IMAGE` (`name:tag`) overrides it.
fn image() -> (String, String) {
    match std::env::var("CHATRIXCD_SYNAPSE_IMAGE")
        .ok()
        .and_then(|i| i.split_once(':').map(|(n, t)| (n.into(), t.into())))
    {
        Some(chosen) => chosen,
        None => ("matrixdotorg/synapse".into(), format!("v{SYNAPSE_VERSION}")),
    }
}

/// Starts the container with `overrides_dir/test-overrides.yaml` layered over a configuration
/// the image generates at start.
pub fn start(overrides_dir: &Path, port: u16) -> Result<Running, SynapseError> {
    let (name, tag) = image();
    // The image's own start script would refuse to run without a configuration; a shell
    // generates one (as the local harness does with the virtualenv) and then serves with the
    // overrides on top.
    let script = "python -m synapse.app.homeserver --server-name localhost --config-path /data/homeserver.yaml \
                  --data-directory /data --generate-config --report-stats=no \
                  && exec python -m synapse.app.homeserver -c /data/homeserver.yaml -c /overrides/test-overrides.yaml";
    let container = GenericImage::new(name, tag)
        .with_entrypoint("/bin/sh")
        .with_exposed_port(port.tcp())
        .with_cmd(["-c", script])
        .with_mount(Mount::bind_mount(overrides_dir.display().to_string(), "/overrides"))
        .with_startup_timeout(std::time::Duration::from_secs(180))
        .start()
        .map_err(|e| failed("starting the synapse container", e))?;
    let host_port = container.get_host_port_ipv4(port.tcp()).map_err(|e| failed("finding the mapped port", e))?;
    Ok(Running { container, host_port })
}

impl Running {
    /// Registers a user with the image's own tool, against the server inside the container; the
    /// shared secret comes from the overrides file.
    pub fn register(&self, name: &str, password: &str, admin_flag: &str, port: u16) -> Result<(), SynapseError> {
        let command = ExecCommand::new([
            "register_new_matrix_user".to_owned(),
            "--exists-ok".into(),
            "-u".into(),
            name.into(),
            "-p".into(),
            password.into(),
            admin_flag.into(),
            "-c".into(),
            "/overrides/test-overrides.yaml".into(),
            format!("http://127.0.0.1:{port}"),
        ]);
        let mut result = self.container.exec(command).map_err(|e| failed("registering a user", e))?;
        let stderr = result.stderr_to_vec().unwrap_or_default();
        match result.exit_code().map_err(|e| failed("registering a user", e))? {
            Some(0) | None => Ok(()),
            Some(code) => {
                Err(failed("registering a user", format!("exit {code}: {}", String::from_utf8_lossy(&stderr))))
            }
        }
    }
}
