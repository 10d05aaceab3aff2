//! The account's API tokens through the door: list and create the actor's own.

use super::Provisioner;
use crate::domain::Actor;
use crate::tokens::{self, ApiToken, TokenOptions};
use crate::Result;

impl Provisioner {
    /// The actor's own API tokens, newest first.
    pub async fn token_list(&self, actor: &Actor) -> Result<Vec<ApiToken>> {
        tokens::list(&self.store, actor).await
    }

    /// Creates an API token for the actor: the token and its secret (shown once).
    pub async fn token_create(
        &self,
        actor: &Actor,
        name: &str,
        options: TokenOptions,
    ) -> Result<(ApiToken, String)> {
        tokens::create(&self.store, actor, name, options).await
    }
}
