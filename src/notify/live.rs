//! The senders of the plan in force. The engine publishes the plan on a `watch` channel
//! (`PublishedPlan`, with a generation that grows on every reload); [`LiveSenders`] follows it and
//! builds the channels' senders again when the generation changes, so a reload that changes
//! `[smtp]` or `[[channels]]` takes effect for the next delivery and the next `notify test`.
//! Deliveries in flight keep the senders they started with (an `Arc`), and every generation's
//! senders share the one HTTP client (one connection pool).

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::dispatcher::Senders;
use crate::core::plan_diff::PublishedPlan;
use crate::plan::Plan;
use crate::report::message_id::MessageIds;

/// The senders of the plan in force, rebuilt when a reload publishes a new plan.
pub struct LiveSenders {
    plans: watch::Receiver<PublishedPlan>,
    client: reqwest::Client,
    message_ids: MessageIds,
    /// The generation the senders were built for, and the senders.
    built: Mutex<(u64, Arc<Plan>, Arc<Senders>)>,
}

impl LiveSenders {
    /// Senders for the plan published now; later ones follow `plans`.
    pub fn new(
        plans: watch::Receiver<PublishedPlan>,
        client: reqwest::Client,
        message_ids: MessageIds,
    ) -> LiveSenders {
        let published = plans.borrow().clone();
        let senders = Arc::new(Senders::new(
            &published.plan,
            client.clone(),
            message_ids.clone(),
        ));
        LiveSenders {
            plans,
            client,
            message_ids,
            built: Mutex::new((published.generation, published.plan, senders)),
        }
    }

    /// The senders of the plan in force (built again if a reload published a new plan since).
    pub fn current(&self) -> Arc<Senders> {
        self.with_plan().1
    }

    /// The plan in force and its senders, as one pair (a `notify test` names the channels of
    /// the plan whose senders it uses).
    pub fn with_plan(&self) -> (Arc<Plan>, Arc<Senders>) {
        let published = self.plans.borrow().clone();
        let mut built = match self.built.lock() {
            Ok(built) => built,
            Err(poisoned) => poisoned.into_inner(),
        };
        if built.0 != published.generation {
            let senders = Senders::new(
                &published.plan,
                self.client.clone(),
                self.message_ids.clone(),
            );
            tell_problems(&senders, published.generation);
            *built = (published.generation, published.plan, Arc::new(senders));
        }
        (built.1.clone(), built.2.clone())
    }

    /// The HTTP client every generation's webhook and Alertmanager senders share.
    pub fn http_client(&self) -> reqwest::Client {
        self.client.clone()
    }
}

/// Logs where the reloaded plan's channels deliver, and which cannot.
fn tell_problems(senders: &Senders, generation: u64) {
    for line in senders.describe() {
        tracing::info!(generation, channel = %line, "notifications after the reload");
    }
    for problem in senders.problems() {
        tracing::error!(generation, problem = %problem, "a notification channel cannot deliver; fix its secret and reload");
    }
}
