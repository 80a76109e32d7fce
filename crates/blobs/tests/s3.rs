//! The S3 blob store against the fake S3 server (which checks Signature V4 like S3 does).

use std::time::{Duration, Instant};

use talaka_blobs::fake::{FakeS3, Fault};
use talaka_blobs::{BlobError, BlobId, BlobStore, S3BlobStore, S3Settings};
use talaka_core::Secret;
use talaka_core::crypto::SecretKey;

const ACCESS: &str = "AKIATALAKATEST";
const SECRET: &str = "s3cr3t-marker/K7MDENG+bPxRfiCY";
const PLAIN: &[u8] = b"PLAINTEXT-MARKER ballot photo bytes";

async fn fake() -> FakeS3 {
    FakeS3::start("photos", ACCESS, SECRET, "us-east-1")
        .await
        .expect("fake S3")
}

fn settings(s3: &FakeS3) -> S3Settings {
    let mut s = S3Settings::new(
        &s3.endpoint(),
        "photos",
        ACCESS,
        Secret::new(SECRET.to_owned()),
    );
    s.prefix = "talaka/photos/".into();
    s.timeout = Duration::from_secs(5);
    s
}

fn store_with(s: S3Settings, key: &SecretKey) -> S3BlobStore {
    S3BlobStore::new(s, key)
        .expect("settings")
        .with_retry_pause(Duration::from_millis(10))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_no_secret(e: &BlobError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    assert!(!shown.contains("s3cr3t"), "secret leaked: {shown}");
    assert!(!shown.contains("Signature="), "signature leaked: {shown}");
}

#[tokio::test]
async fn round_trip_keeps_only_ciphertext_at_the_provider() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();
    let store = store_with(settings(&s3), &key);
    store.check().await.expect("the bucket is writable");
    assert!(s3.objects().is_empty(), "the probe object is removed");

    let id = store.put(PLAIN).await.expect("put");
    assert_eq!(store.get(&id).await.expect("get"), PLAIN);

    let objects = s3.objects();
    let name = format!("talaka/photos/{id}");
    assert_eq!(objects.keys().collect::<Vec<_>>(), vec![&name]);
    assert_eq!(store.object_key(&id), name);
    let stored = &objects[&name];
    assert!(!contains(stored, b"PLAINTEXT-MARKER"), "only ciphertext");
    assert_eq!(stored.len(), PLAIN.len() + talaka_blobs::OVERHEAD);
    let put = s3
        .seen()
        .into_iter()
        .find(|r| r.method == "PUT" && r.key == name)
        .expect("the put");
    assert!(put.if_none_match, "puts are conditional");

    // Another installation's key opens nothing.
    let stranger = store_with(settings(&s3), &SecretKey::generate().unwrap());
    assert_eq!(stranger.get(&id).await, Err(BlobError::Tampered));

    assert!(store.delete(&id).await.unwrap());
    assert!(s3.objects().is_empty());
    assert!(!store.delete(&id).await.unwrap(), "nothing left to delete");
    assert_eq!(store.get(&id).await, Err(BlobError::NotFound));
}

#[tokio::test]
async fn a_changed_or_moved_object_is_tampered() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();
    let store = store_with(settings(&s3), &key);
    let id = store.put(PLAIN).await.unwrap();
    let name = store.object_key(&id);
    let original = s3.object(&name).unwrap();

    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    s3.set_object(&name, flipped);
    assert_eq!(store.get(&id).await, Err(BlobError::Tampered));

    // The intact bytes copied under another id do not open either (the id is bound).
    let other = BlobId::random().unwrap();
    s3.set_object(&store.object_key(&other), original);
    assert_eq!(store.get(&other).await, Err(BlobError::Tampered));
}

#[tokio::test]
async fn an_existing_object_is_never_overwritten() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();
    let store = store_with(settings(&s3), &key);
    let id = BlobId::random().unwrap();
    store.put_as(&id, b"first").await.expect("first put");
    let e = store.put_as(&id, b"second").await.unwrap_err();
    assert!(matches!(e, BlobError::Storage(_)), "{e:?}");
    assert!(e.to_string().contains("412"), "{e}");
    assert_eq!(s3.seen().last().unwrap().status, 412);
    assert_eq!(store.get(&id).await.unwrap(), b"first");
}

#[tokio::test]
async fn server_errors_are_retried_then_surface_without_secrets() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();
    let store = store_with(settings(&s3), &key);

    // One failure: the retry succeeds.
    s3.fail_next(Fault::ServerError);
    let id = store.put(PLAIN).await.expect("retried put");
    assert_eq!(store.get(&id).await.unwrap(), PLAIN);

    // Failing every attempt: a storage error naming the operation and status, nothing stored.
    for _ in 0..3 {
        s3.fail_next(Fault::ServerError);
    }
    let e = store.put(PLAIN).await.unwrap_err();
    let BlobError::Storage(message) = &e else {
        panic!("expected a storage error, got {e:?}");
    };
    assert!(message.contains("put"), "{message}");
    assert!(message.contains("500"), "{message}");
    assert!(message.contains("InternalError"), "{message}");
    assert_no_secret(&e);
    assert_eq!(s3.objects().len(), 1);

    for _ in 0..3 {
        s3.fail_next(Fault::ServerError);
    }
    let e = store.get(&id).await.unwrap_err();
    assert!(matches!(e, BlobError::Storage(_)), "{e:?}");
}

#[tokio::test]
async fn a_put_whose_answer_was_lost_is_not_stored_twice() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();
    let store = store_with(settings(&s3), &key);
    // The object is stored but the answer is a 500; the retry gets 412 and that is success.
    s3.fail_next(Fault::ServerErrorAfter);
    let id = store.put(PLAIN).await.expect("put");
    assert_eq!(s3.objects().len(), 1);
    let statuses: Vec<u16> = s3.seen().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 412, 200], "put, retried put, read back");
    assert_eq!(store.get(&id).await.unwrap(), PLAIN);

    // A retry that meets someone else's object under the name is still refused.
    let taken = BlobId::random().unwrap();
    s3.set_object(&store.object_key(&taken), b"another object".to_vec());
    s3.fail_next(Fault::ServerError);
    let e = store.put_as(&taken, PLAIN).await.unwrap_err();
    assert!(e.to_string().contains("412"), "{e}");
    assert_eq!(
        s3.object(&store.object_key(&taken)).unwrap(),
        b"another object"
    );
}

#[tokio::test]
async fn the_start_up_check_refuses_wrong_settings_clearly() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();

    let mut wrong_secret = settings(&s3);
    wrong_secret.secret_access_key = Secret::new("not-the-s3cr3t".into());
    let e = store_with(wrong_secret, &key).check().await.unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("403"), "{shown}");
    assert!(shown.contains("SignatureDoesNotMatch"), "{shown}");
    assert!(shown.contains("start-up check"), "{shown}");
    assert!(!shown.contains("not-the-s3cr3t"), "{shown}");
    assert_no_secret(&e);

    let mut wrong_id = settings(&s3);
    wrong_id.access_key_id = "AKIAOTHER".into();
    let e = store_with(wrong_id, &key).check().await.unwrap_err();
    assert!(e.to_string().contains("InvalidAccessKeyId"), "{e}");

    let mut wrong_bucket = settings(&s3);
    wrong_bucket.bucket = "fotos".into();
    let e = store_with(wrong_bucket, &key).check().await.unwrap_err();
    assert!(e.to_string().contains("404 NoSuchBucket"), "{e}");

    let mut wrong_region = settings(&s3);
    wrong_region.region = "eu-central-1".into();
    assert!(store_with(wrong_region, &key).check().await.is_err());

    assert!(s3.objects().is_empty(), "nothing was written");
    store_with(settings(&s3), &key)
        .check()
        .await
        .expect("right settings");
}

#[tokio::test]
async fn every_request_has_a_timeout() {
    let s3 = fake().await;
    let key = SecretKey::generate().unwrap();
    let mut s = settings(&s3);
    s.timeout = Duration::from_millis(300);
    let store = store_with(s, &key);
    for _ in 0..3 {
        s3.fail_next(Fault::Hang);
    }
    let started = Instant::now();
    let e = store.get(&BlobId::random().unwrap()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(e, BlobError::Storage(_)), "{e:?}");
    assert!(e.to_string().contains("no answer"), "{e}");

    // An endpoint where nothing listens fails as well, and names no secret.
    let endpoint = s3.endpoint();
    drop(s3);
    let mut s = S3Settings::new(&endpoint, "photos", ACCESS, Secret::new(SECRET.to_owned()));
    s.timeout = Duration::from_millis(300);
    let e = store_with(s, &key).check().await.unwrap_err();
    assert!(matches!(e, BlobError::Storage(_)), "{e:?}");
    assert_no_secret(&e);
}
