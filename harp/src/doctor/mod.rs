//! `harp doctor`
pub struct Options {
    pub public_url: Option<String>,
    pub app: Option<String>,
}
pub struct Finding;
impl Finding {
    pub fn is_failure(&self) -> bool {
        false
    }
}
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("")
    }
}
pub async fn run(_env: &impl crate::config::Env, _o: &Options) -> Vec<Finding> {
    Vec::new()
}
