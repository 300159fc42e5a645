//! The repository signing key: generate, load, export, and make the detached
//! ASCII-armored signature `repomd.xml.asc`. Pure apart from randomness for key
//! generation; storing the key is the caller's job.
