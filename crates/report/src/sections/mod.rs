//! One function per report section, each turning a module's result into text, figures and a
//! table.

pub(crate) mod digits;
pub(crate) mod distributions;
pub(crate) mod integer;
pub(crate) mod klimek;
pub(crate) mod methods;
pub(crate) mod shpilkin;
pub(crate) mod sobyanin;
pub(crate) mod summary;
