//! Key rotation: re-seal every stored personal field under the key file's current key.
//!
//! The operator's steps (`docs/safety-keys.md`): `talaka safety rotate-key` writes the key file
//! with a new key first and the old ones after it (so everything still opens), then calls
//! [`reseal_all`], which reads every sealed value, opens it with whichever key made it and seals
//! it again under the new key, and writes all of them in one transaction. Once that has
//! succeeded, `talaka safety rotate-key --drop-old` checks that no value still needs an old key
//! ([`values_needing_old_keys`]) and only then removes the old keys from the file.

use talaka_store::SafetyStore;
use talaka_store::safety::{Sealed, SealedColumn, SealedValue};

use crate::alerts::SafetyError;
use crate::keys::{Keyring, Purpose};

/// The purpose a column's values are sealed for.
pub fn purpose_of(column: SealedColumn) -> Purpose {
    match column {
        SealedColumn::PersonDetails | SealedColumn::CaseDetails => Purpose::Details,
        SealedColumn::PersonReach => Purpose::Reach,
        SealedColumn::ContactAddress | SealedColumn::DeliveryAddress => Purpose::Address,
        SealedColumn::CaseCustody => Purpose::Custody,
        SealedColumn::CaseSentence => Purpose::Sentence,
        SealedColumn::EventNote => Purpose::Note,
    }
}

/// Re-seal every value not yet under the current key; returns how many were re-sealed. A value
/// that does not open (damaged, or made with a key no longer in the file) stops the rotation
/// before anything is written, naming only its column and row.
pub async fn reseal_all(store: &dyn SafetyStore, keys: &Keyring) -> Result<u64, SafetyError> {
    let values = store.sealed_values().await?;
    let mut replacements: Vec<(SealedValue, Sealed)> = Vec::new();
    for v in values {
        if !keys.needs_reseal(&v.sealed) {
            continue;
        }
        let new = keys
            .reseal(purpose_of(v.column), &v.person_ref, &v.sealed)
            .map_err(|e| {
                tracing::error!(column = v.column.as_str(), row = v.row, error = %e, "cannot re-seal");
                e
            })?;
        replacements.push((v, new));
    }
    if replacements.is_empty() {
        return Ok(0);
    }
    Ok(store.replace_sealed(&replacements).await?)
}

/// How many stored values are still sealed under a key other than the current one.
pub async fn values_needing_old_keys(
    store: &dyn SafetyStore,
    keys: &Keyring,
) -> Result<u64, SafetyError> {
    let values = store.sealed_values().await?;
    Ok(values.iter().filter(|v| keys.needs_reseal(&v.sealed)).count() as u64)
}
