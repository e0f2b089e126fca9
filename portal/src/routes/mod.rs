pub mod hub;
pub mod not_found;
pub mod reference;
