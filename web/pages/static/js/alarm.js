// The alert a crew cannot miss: a two-tone siren drawn with WebAudio (no sound file to fetch), the phone vibrating
// where the browser allows it, a full-screen banner (the page's), and a notification through the service worker
// when the page is in the background. It repeats until it is stopped (the dispatch acknowledged).
//
// Browsers let a page make sound only after a tap: ``unlock`` (called from the "on duty" button and any first tap)
// makes the AudioContext then, so that the siren can start later without one.
const BEEP_MS = 1_400;
const VIBRATION = [500, 150, 500, 150, 500];

let audio = null;
let timer = null;
const state = { sounding: false, beeps: 0, vibrations: 0, notified: 0 };
let pending = null; // the notice of the alert sounding, shown once when the page goes to the background
let shownTag = null;

export function unlock() {
  try {
    if (!audio) audio = new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null; // no WebAudio: the banner and the vibration still go
  }
}

function siren() {
  if (!audio || audio.state !== "running") return;
  const now = audio.currentTime;
  const gain = audio.createGain();
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.9, now + 0.02);
  gain.gain.setValueAtTime(0.9, now + 1.0);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 1.1);
  gain.connect(audio.destination);
  const tone = audio.createOscillator();
  tone.type = "square";
  tone.frequency.setValueAtTime(960, now);
  tone.frequency.setValueAtTime(640, now + 0.25);
  tone.frequency.setValueAtTime(960, now + 0.5);
  tone.frequency.setValueAtTime(640, now + 0.75);
  tone.connect(gain);
  tone.start(now);
  tone.stop(now + 1.1);
  state.beeps += 1;
}

function buzz() {
  if (typeof navigator.vibrate === "function" && navigator.vibrate(VIBRATION)) state.vibrations += 1;
}

function once() {
  siren();
  buzz();
}

// Start (or keep) the alert; ``notice`` {title, body, tag} is shown as a notification (once per tag) while the
// page is hidden, or when it goes to the background still alerting.
export async function start(notice) {
  if (!state.sounding) {
    state.sounding = true;
    once();
    timer = setInterval(once, BEEP_MS);
  }
  pending = notice || null;
  if (pending && document.visibilityState === "hidden" && shownTag !== pending.tag) {
    shownTag = pending.tag;
    await notify(pending);
  }
}

document.addEventListener("visibilitychange", () => {
  if (state.sounding && pending && document.visibilityState === "hidden" && shownTag !== pending.tag) {
    shownTag = pending.tag;
    notify(pending);
  }
});

export async function notify(notice) {
  if (!("serviceWorker" in navigator) || Notification.permission !== "granted") return;
  const registration = await navigator.serviceWorker.getRegistration();
  if (!registration) return;
  await registration.showNotification(notice.title, {
    body: notice.body, tag: notice.tag, renotify: true, requireInteraction: true, vibrate: VIBRATION,
  });
  state.notified += 1;
}

export function stop() {
  if (!state.sounding) return;
  state.sounding = false;
  pending = null;
  clearInterval(timer);
  timer = null;
  if (typeof navigator.vibrate === "function") navigator.vibrate(0);
}

export function alarmState() {
  return { ...state, audio: audio ? audio.state : "none" };
}
