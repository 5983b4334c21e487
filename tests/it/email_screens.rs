//! The HTML alert emails as a phone and a desktop mail client show them: each reviewed snapshot in
//! `tests/snapshots/alerts/` (the renderer's real output — `report::alert_message_tests` fails when
//! the renderer and a snapshot differ), from the single page to the grouped storm email, opened in
//! headless Chromium at 1280 and 390 px. Screenshots go to `target/test-artifacts/` for people to
//! look at; at phone width nothing may be wider than the screen (no sideways scrolling at 3 a.m.).

use std::path::PathBuf;

use crate::browser::{Browser, artifacts};

/// Every HTML snapshot and a phrase its rendering must show (so a blank page cannot pass).
const EMAILS: [(&str, &str); 8] = [
    ("page", "Checkout error rate is failing"),
    ("escalation", "escalated"),
    ("reminder", "still failing"),
    ("ack", "ACKNOWLEDGED"),
    ("lapse", "acknowledgement lapsed"),
    ("resolution", "RESOLVED"),
    ("storm-opened", "3 alerts failing"),
    ("storm-resolved", "3 alerts resolved"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_html_alert_email_fits_a_390_px_phone_and_is_kept_as_screenshots() {
    let snapshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/alerts");
    let directory = artifacts();
    let browser = Browser::start().await;
    // The measure itself: a page with a 600 px block reads as wider than the phone.
    browser.set_size(390, 844).await;
    browser
        .navigate("data:text/html,<div style='width:600px'>wide</div>")
        .await;
    let wide = browser
        .script("return document.documentElement.scrollWidth > window.innerWidth")
        .await;
    assert_eq!(wide, true, "the overflow check sees nothing");
    let mut overflowing = Vec::new();
    for (name, phrase) in EMAILS {
        let file = snapshots.join(format!("{name}.html"));
        assert!(file.exists(), "no snapshot {}", file.display());
        let url = format!("file://{}", file.display());
        for (width, height, suffix) in [(1280, 900, "desktop"), (390, 844, "phone")] {
            browser.set_size(width, height).await;
            browser.navigate(&url).await;
            let seen = browser
                .script(
                    "return {
                        text: document.body.innerText,
                        width: window.innerWidth,
                        scroll_width: document.documentElement.scrollWidth,
                        widest: Math.max(...[...document.body.querySelectorAll('*')]
                            .map(element => element.getBoundingClientRect().right)),
                    }",
                )
                .await;
            let text = seen["text"].as_str().unwrap_or("");
            assert!(
                text.to_lowercase().contains(&phrase.to_lowercase()),
                "{name}: `{phrase}` not shown: {text}"
            );
            let shot = browser
                .screenshot(&directory.join(format!("email-{name}-{suffix}.png")))
                .await;
            println!("{name} at {width} px: {}", shot.display());
            if width == 390 {
                let inner = seen["width"].as_f64().unwrap_or(0.0);
                assert!(inner > 0.0 && inner <= 390.0, "{name}: {seen}");
                let scroll = seen["scroll_width"].as_f64().unwrap_or(f64::MAX);
                let widest = seen["widest"].as_f64().unwrap_or(f64::MAX);
                if scroll > inner || widest > inner + 0.5 {
                    overflowing.push(format!("{name}: {seen}"));
                }
            }
        }
    }
    browser.close().await;
    assert!(
        overflowing.is_empty(),
        "wider than a 390 px phone: {overflowing:#?}"
    );
}
