//! The device-code store's conformance suite (`keyward_stores::conformance_device`) against
//! every backend: memory, SQLite (memory and file), PostgreSQL (`KEYWARD_TEST_DATABASE_URL`)
//! and Redis (`KEYWARD_TEST_REDIS_URL`). The PostgreSQL and Redis tests skip visibly when
//! their server is not configured and fail under `CI=true`.

use keyward_stores::device_conformance_tests;

mod memory {
    use super::device_conformance_tests;
    use keyward_stores::MemoryStore;
    use std::sync::Arc;

    async fn make(_test: &str) -> Option<Arc<MemoryStore>> {
        Some(Arc::new(MemoryStore::new()))
    }

    device_conformance_tests!(make, purges = true);
}
