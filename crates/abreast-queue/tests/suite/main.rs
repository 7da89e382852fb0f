//! The queue's tests, against a real `redis-server` each test starts for itself (see
//! `abreast_queue::LocalRedis`); a machine without one fails them with a message saying to
//! install it.

mod redis_streams;
