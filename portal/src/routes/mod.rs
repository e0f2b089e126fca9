pub mod developer_hub;
pub mod not_found;
pub mod presets;
pub mod reference;
pub mod sign;
pub mod simulator;
pub mod start;
pub mod webhooks;
