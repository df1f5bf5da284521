//! A future polled only when it was woken ([`Woken`]): what a run's
//! future needs when it is awaited beside others in one task, where every
//! wake-up of the task (a signal, the shutdown future) would otherwise poll
//! the whole tree of players run in place, to find nothing to do.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

pin_project_lite::pin_project! {
    /// `future`, polled at its first poll and then only once it has woken
    /// its task: otherwise a poll returns `Pending` at once.
    pub(crate) struct Woken<F> {
        #[pin]
        future: F,
        flag: Arc<Flag>,
    }
}

/// Whether the future woke its task since it was last polled, and that
/// task's waker.
struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> Woken<F> {
    pub(crate) fn new(future: F) -> Self {
        Woken {
            future,
            flag: Arc::new(Flag {
                woken: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
        }
    }
}

impl<F: Future> Future for Woken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Registered before the flag is read: a wake after the read wakes
        // the task again.
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(this.flag.clone());
        this.future.poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::pin::pin;
    use std::sync::Mutex;

    use futures_util::task::noop_waker;

    use super::*;

    #[test]
    fn the_future_is_polled_first_then_only_once_it_woke_its_task() {
        let polls = Mutex::new(0);
        let waker: Mutex<Option<Waker>> = Mutex::new(None);
        let mut woken = pin!(Woken::new(poll_fn(|cx| {
            *polls.lock().unwrap() += 1;
            *waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        })));
        let task = noop_waker();
        let mut cx = Context::from_waker(&task);

        assert!(woken.as_mut().poll(&mut cx).is_pending());
        assert!(woken.as_mut().poll(&mut cx).is_pending());
        assert_eq!(*polls.lock().unwrap(), 1, "not woken: not polled");

        waker.lock().unwrap().take().unwrap().wake();
        assert!(woken.as_mut().poll(&mut cx).is_pending());
        assert_eq!(*polls.lock().unwrap(), 2, "woken: polled");
    }
}
