//! Checkpoints: safetensors files whose metadata carries the model configuration, so that
//! [`load`] rebuilds the model with no other input.
//!
//! Writes are atomic: the bytes go to a temporary file in the same folder, are flushed to
//! disk, then renamed over the target, so a crash mid-save leaves the previous checkpoint
//! intact. A checkpoint with a non-finite weight is refused at save time. Loading checks
//! the format, every tensor's presence, dtype and shape, and names the first that disagrees.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::Device;
//! use vae_core::{checkpoint, models::Model, rng::Rng};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("vae.safetensors");
//! // Seed 11: the loader initialises its model from seed 0 before reading the file, so a
//! // load that read no weights would reconstruct differently.
//! let model = Model::from_name("mlp-vae", Some(2), 11, &Device::Cpu)?;
//! checkpoint::save(&model, &path)?;
//! let back = checkpoint::load(&path, &Device::Cpu)?;
//! assert_eq!(back.config(), model.config());
//! let x = Rng::new(1).rand((3, 784), 0.0, 1.0, &Device::Cpu)?;
//! let (a, b) = (model.reconstruct(&x, None)?, back.reconstruct(&x, None)?);
//! assert_eq!(a.to_vec2::<f32>()?, b.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```
use crate::error::{Error, Result};
use crate::models::params::Params;
use crate::models::{Model, ModelConfig};
use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// The `format` entry of a checkpoint's metadata: files without it are refused as foreign.
pub const FORMAT: &str = "vae-notebooks/1";
const KEY_FORMAT: &str = "format";
const KEY_CONFIG: &str = "model_config";

fn ck_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
}

/// Saves all parameters (and batch-norm statistics) with the config in the metadata.
pub fn save(model: &Model, path: impl AsRef<Path>) -> Result<()> {
    save_with_metadata(model, path, HashMap::new())
}

/// [`save`] with extra metadata entries (e.g. the training recipe).
pub fn save_with_metadata(model: &Model, path: impl AsRef<Path>, extra: HashMap<String, String>) -> Result<()> {
    let path = path.as_ref();
    let vars = model.params().named_vars();
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(vars.len());
    for (name, var) in &vars {
        let v = var.as_tensor().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(ck_err(
                path,
                format!(
                    "refusing to save: parameter {name} holds a non-finite value ({}) at index {i}; training diverged",
                    v[i]
                ),
            ));
        }
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        buffers.push((name.clone(), var.dims().to_vec(), bytes));
    }
    let mut meta = extra;
    meta.insert(KEY_FORMAT.into(), FORMAT.into());
    meta.insert(KEY_CONFIG.into(), serde_json::to_string(model.config()).map_err(|e| ck_err(path, e.to_string()))?);
    let views: Vec<(String, TensorView)> = buffers
        .iter()
        .map(|(n, s, b)| {
            Ok((n.clone(), TensorView::new(Dtype::F32, s.clone(), b).map_err(|e| ck_err(path, e.to_string()))?))
        })
        .collect::<Result<_>>()?;
    let bytes = safetensors::tensor::serialize(views, Some(meta)).map_err(|e| ck_err(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary sibling file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| ck_err(path, "not a file path"))?.to_string_lossy().to_string();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Reads the model configuration stored in a checkpoint.
pub fn read_config(path: impl AsRef<Path>) -> Result<ModelConfig> {
    let path = path.as_ref();
    let bytes = read(path)?;
    config_of(path, &bytes)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ck_err(path, "no such checkpoint; train one with `vae train ... --out <file>`")
        } else {
            Error::io(path, e)
        }
    })
}

fn metadata_of(path: &Path, bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| ck_err(path, format!("not a readable safetensors file ({e}); is it truncated or corrupt?")))?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

fn config_of(path: &Path, bytes: &[u8]) -> Result<ModelConfig> {
    let meta = metadata_of(path, bytes)?;
    match meta.get(KEY_FORMAT) {
        Some(f) if f == FORMAT => {}
        Some(f) => return Err(ck_err(path, format!("checkpoint format '{f}' is not supported (expected '{FORMAT}')"))),
        None => {
            return Err(ck_err(
                path,
                "a safetensors file without vae-notebooks metadata: it was not written by `vae-core`",
            ))
        }
    }
    let cfg = meta.get(KEY_CONFIG).ok_or_else(|| ck_err(path, "metadata has no model_config"))?;
    serde_json::from_str(cfg).map_err(|e| ck_err(path, format!("model_config in the metadata does not parse: {e}")))
}

/// Rebuilds the model stored at `path` on `device`.
pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Model> {
    let path = path.as_ref();
    load_bytes(&read(path)?, path, device)
}

/// [`load`], and the metadata the checkpoint was saved with ([`save_with_metadata`]'s `extra`
/// among it), from one read of the file.
pub fn load_with_metadata(path: impl AsRef<Path>, device: &Device) -> Result<(Model, HashMap<String, String>)> {
    let path = path.as_ref();
    let bytes = read(path)?;
    Ok((load_bytes(&bytes, path, device)?, metadata_of(path, &bytes)?))
}

/// [`load`] from the bytes of a checkpoint file; `path` is used in error messages only.
///
/// Every parameter is stored as 4 bytes, so the model described by the metadata is built only
/// if it fits in the file: a forged config cannot make the loader allocate a model larger
/// than the file.
pub fn load_bytes(bytes: &[u8], path: impl AsRef<Path>, device: &Device) -> Result<Model> {
    let path = path.as_ref();
    let config = config_of(path, bytes)?;
    let params = Params::with_limit(0, bytes.len() / 4);
    let model = Model::with_params(config, params.clone(), device).map_err(|e| {
        if params.limit_hit() {
            ck_err(path, format!("the model_config in the metadata describes more parameters than the file's {} bytes can hold; the file is corrupt", bytes.len()))
        } else {
            ck_err(path, format!("the model_config in the metadata cannot be built ({e}); the file is corrupt or was not written by this version"))
        }
    })?;
    fill(&model, path, bytes)?;
    Ok(model)
}

/// Loads the weights at `path` into an existing model, which must have the same architecture.
pub fn load_into(model: &Model, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = read(path)?;
    let config = config_of(path, &bytes)?;
    if &config != model.config() {
        return Err(ck_err(
            path,
            format!(
                "the checkpoint holds a different model: {} vs this {} ({})",
                serde_json::to_string(&config).unwrap_or_default(),
                model.name(),
                serde_json::to_string(model.config()).unwrap_or_default()
            ),
        ));
    }
    fill(model, path, &bytes)
}

fn fill(model: &Model, path: &Path, bytes: &[u8]) -> Result<()> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| ck_err(path, format!("not a readable safetensors file ({e}); is it truncated or corrupt?")))?;
    let vars = model.params().named_vars();
    for (name, var) in &vars {
        let view = st
            .tensor(name)
            .map_err(|_| ck_err(path, format!("tensor {name} is missing (expected shape {:?})", var.dims())))?;
        if view.dtype() != Dtype::F32 {
            return Err(ck_err(path, format!("tensor {name} has dtype {:?}, expected F32", view.dtype())));
        }
        if view.shape() != var.dims() {
            return Err(ck_err(
                path,
                format!("tensor {name} has shape {:?}, the model expects {:?}", view.shape(), var.dims()),
            ));
        }
        let data: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if data.iter().any(|x| !x.is_finite()) {
            return Err(ck_err(path, format!("tensor {name} holds non-finite values")));
        }
        var.set(&Tensor::from_vec(data, view.shape(), model.device())?)?;
    }
    let expected: std::collections::HashSet<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(extra) = st.names().into_iter().find(|n| !expected.contains(&n[..])) {
        return Err(ck_err(path, format!("tensor {extra} is not part of this {} model", model.name())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn round_trip_preserves_outputs_for_every_model() {
        let dir = tempfile::tempdir().unwrap();
        let x = Rng::new(0).rand((2, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        let labels = Tensor::new(&[3u32, 7], &Device::Cpu).unwrap();
        for name in crate::models::MODEL_NAMES {
            let m = Model::from_name(name, None, 11, &Device::Cpu).unwrap();
            let p = dir.path().join(format!("{name}.safetensors"));
            save(&m, &p).unwrap();
            let back = load(&p, &Device::Cpu).unwrap();
            let l = m.num_classes().map(|_| &labels);
            let a = m.reconstruct(&x, l).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let b = back.reconstruct(&x, l).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(a, b, "{name}");
        }
    }

    #[test]
    fn truncated_corrupt_and_foreign_files_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let m = Model::from_name("mlp-ae-2d", None, 0, &Device::Cpu).unwrap();
        save(&m, &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let q = dir.path().join("cut.safetensors");
        std::fs::write(&q, &bytes[..bytes.len() / 2]).unwrap();
        let e = load(&q, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("cut.safetensors") && e.contains("truncated or corrupt"), "{e}");
        std::fs::write(&q, b"garbage").unwrap();
        assert!(load(&q, &Device::Cpu).unwrap_err().to_string().contains("truncated or corrupt"));
        let e = load(dir.path().join("nope.safetensors"), &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("no such checkpoint"), "{e}");
        // A safetensors file from elsewhere (no metadata).
        let plain =
            safetensors::tensor::serialize(vec![("w", TensorView::new(Dtype::F32, vec![1], &[0u8; 4]).unwrap())], None)
                .unwrap();
        std::fs::write(&q, plain).unwrap();
        assert!(load(&q, &Device::Cpu).unwrap_err().to_string().contains("not written by `vae-core`"));
    }

    #[test]
    fn mismatched_model_names_the_tensor_and_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        save(&Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap(), &p).unwrap();
        let other = Model::from_name("mlp-vae", Some(3), 0, &Device::Cpu).unwrap();
        let e = load_into(&other, &p).unwrap_err().to_string();
        assert!(e.contains("different model"), "{e}");
        // Same config claimed, different tensor shape inside: edit the metadata of a latent-3 file.
        let bytes = {
            let q = dir.path().join("l3.safetensors");
            save(&other, &q).unwrap();
            std::fs::read(&q).unwrap()
        };
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut meta = HashMap::new();
        meta.insert(KEY_FORMAT.to_string(), FORMAT.to_string());
        meta.insert(
            KEY_CONFIG.to_string(),
            serde_json::to_string(&ModelConfig::from_name("mlp-vae", Some(2)).unwrap()).unwrap(),
        );
        let views: Vec<(String, TensorView)> = st.tensors().into_iter().collect();
        let forged = safetensors::tensor::serialize(views, Some(meta)).unwrap();
        std::fs::write(&p, forged).unwrap();
        let e = load(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("decoder.body.fc0.weight") && e.contains("[400, 3]") && e.contains("[400, 2]"), "{e}");
    }

    #[test]
    fn non_finite_weights_are_never_written_and_the_old_file_survives() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let m = Model::from_name("mlp-ae", None, 0, &Device::Cpu).unwrap();
        save(&m, &p).unwrap();
        let before = std::fs::read(&p).unwrap();
        let (_, v) = m.params().named_vars().into_iter().next().unwrap();
        v.set(&(v.as_tensor() * f64::NAN).unwrap()).unwrap();
        let e = save(&m, &p).unwrap_err().to_string();
        assert!(e.contains("non-finite") && e.contains("diverged"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), before);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    }
}
