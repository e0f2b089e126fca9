pub mod developer_hub;
pub mod not_found;
pub mod reference;
