//! The data loaders on small IDX directories written by the tests: good files load, every
//! kind of bad file gets an error naming the file and the problem.
use std::io::Write;
use std::path::Path;
use vae_core::data::idx::encode_idx;
use vae_core::data::{FashionMnist, Mnist};

fn write(dir: &Path, name: &str, bytes: &[u8], gz: bool) {
    if gz {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.gz")), e.finish().unwrap()).unwrap();
    } else {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn images(n: usize) -> Vec<u8> {
    encode_idx(&[n, 28, 28], &(0..n * 784).map(|i| (i % 256) as u8).collect::<Vec<_>>())
}
fn labels(l: &[u8]) -> Vec<u8> {
    encode_idx(&[l.len()], l)
}

fn good_dir(gz: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "train-images-idx3-ubyte", &images(5), gz);
    write(d.path(), "train-labels-idx1-ubyte", &labels(&[0, 1, 2, 3, 9]), gz);
    write(d.path(), "t10k-images-idx3-ubyte", &images(2), gz);
    write(d.path(), "t10k-labels-idx1-ubyte", &labels(&[4, 5]), gz);
    d
}

#[test]
fn raw_and_gzip_directories_load_as_tensors_in_unit_range() {
    for gz in [false, true] {
        let d = good_dir(gz);
        let m = Mnist::load(d.path()).unwrap();
        assert_eq!(m.train.images.dims(), &[5, 784]);
        assert_eq!(m.test.labels.to_vec1::<u32>().unwrap(), vec![4, 5]);
        let px = m.train.images.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(px[255], 1.0);
        assert_eq!(px[0], 0.0);
        assert!(px.iter().all(|p| (0.0..=1.0).contains(p)));
        let f = FashionMnist::load(d.path()).unwrap();
        assert_eq!(f.class_names[9], "Ankle boot");
    }
}

#[test]
fn missing_file_names_the_path_and_the_fix() {
    let d = good_dir(false);
    std::fs::remove_file(d.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("t10k-labels-idx1-ubyte") && e.contains("make data") && e.contains("VAE_DATA_DIR"), "{e}");
}

#[test]
fn count_mismatch_label_range_and_dimensionality_are_reported() {
    let d = good_dir(false);
    write(d.path(), "train-labels-idx1-ubyte", &labels(&[0, 1, 2]), false);
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("3 labels") && e.contains("5 images"), "{e}");

    let d = good_dir(true);
    write(d.path(), "train-labels-idx1-ubyte", &labels(&[0, 1, 2, 10, 1]), true);
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("label 10 of example 3") && e.contains("byte 11"), "{e}");

    let d = good_dir(false);
    write(d.path(), "train-images-idx3-ubyte", &encode_idx(&[5, 784], &vec![0; 5 * 784]), false);
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("2 dimensions") && e.contains("expected 3"), "{e}");
}

#[test]
fn truncated_padded_and_corrupt_files_are_reported_with_the_file() {
    let d = good_dir(false);
    let mut img = images(5);
    img.truncate(img.len() - 10);
    write(d.path(), "train-images-idx3-ubyte", &img, false);
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("train-images-idx3-ubyte") && e.contains("truncated"), "{e}");

    let d = good_dir(false);
    let mut img = images(5);
    img.extend_from_slice(&[0; 3]);
    write(d.path(), "train-images-idx3-ubyte", &img, false);
    assert!(Mnist::load(d.path()).unwrap_err().to_string().contains("3 unexpected bytes"));

    let d = good_dir(false);
    std::fs::remove_file(d.path().join("train-images-idx3-ubyte")).unwrap();
    std::fs::write(
        d.path().join("train-images-idx3-ubyte.gz"),
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef],
    )
    .unwrap();
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("train-images-idx3-ubyte.gz") && e.contains("corrupt"), "{e}");

    let d = good_dir(false);
    write(d.path(), "train-images-idx3-ubyte", &encode_idx(&[3_000_000_000, 28, 28], &[]), false);
    let e = Mnist::load(d.path()).unwrap_err().to_string();
    assert!(e.contains("more than"), "{e}");
}
