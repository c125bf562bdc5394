pub mod ir; pub mod shape;
