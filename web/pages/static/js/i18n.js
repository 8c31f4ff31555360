// Chinese and English labels, the remembered choice, and times and numbers formatted per language in the browser's
// own time zone.

const LABELS = {
  zh: {
    "app.title": "应急指挥中心",
    "login.username": "用户名", "login.password": "密码", "login.submit": "登录",
    "login.failed": "用户名或密码错误", "login.limited": "尝试次数过多，请稍后再试", "login.error": "无法登录",
    "login.totp": "验证码", "login.totp_needed": "请输入验证器应用中的六位验证码",
    "login.totp_invalid": "验证码错误、已过期或已使用", "login.totp_setup": "在验证器应用中手动添加此密钥：",
    "login.totp_enrol": "你的角色须使用双重验证：添加密钥后输入验证码",
    "login.totp_on": "双重验证已开启：请输入下一个验证码登录",
    "logout": "退出", "admin.link": "人员管理", "wall.toggle": "墙屏", "wall.leave": "退出墙屏",
    "conn.live": "实时", "conn.connecting": "正在连接…", "conn.reconnecting": "正在重连，最后更新 {time}",
    "conn.offline": "离线，最后更新 {time}",
    "board.title": "事件", "board.empty": "没有符合条件的事件",
    "filter.all_categories": "全部类别", "filter.all_grades": "全部等级", "filter.open": "未结事件",
    "filter.all_statuses": "全部状态", "filter.all_jurisdictions": "全部辖区",
    "grade.none": "未分级", "grade.I": "I级（特别重大）", "grade.II": "II级（重大）", "grade.III": "III级（较大）",
    "grade.IV": "IV级（一般）",
    "cat.natural_disaster": "自然灾害", "cat.accident_disaster": "事故灾难", "cat.public_health": "公共卫生事件",
    "cat.social_security": "社会安全事件", "cat.none": "未分类",
    "status.reported": "已报告", "status.verified": "已核实", "status.responding": "处置中", "status.contained": "已控制",
    "status.closed": "已结束", "status.cancelled": "已撤销",
    "unit.available": "可用", "unit.dispatched": "已派遣", "unit.en_route": "途中", "unit.on_scene": "到场",
    "unit.transporting": "转运中", "unit.at_hospital": "在医院", "unit.out_of_service": "停用",
    "counter.open": "未结", "counter.unanswered": "待响应", "counter.units_available": "可用单位",
    "counter.unmet": "未满足需求", "counter.overdue": "逾期任务", "counter.escalated": "升级告警",
    "counter.exercises": "演练进行中",
    "warnings.title": "生效预警（{n}）", "warnings.until": "至 {time}",
    "level.red": "红色", "level.orange": "橙色", "level.yellow": "黄色", "level.blue": "蓝色",
    "age": "已等待", "exercise": "演练", "duplicate": "疑似重复", "duplicate.of": "疑似重复（#{id}）",
    "layer.roads": "道路", "layer.jurisdictions": "辖区", "layer.zones": "危险区", "layer.units": "单位",
    "layer.tracks": "轨迹", "layer.incidents": "事件", "layer.impact": "影响范围", "layer.warnings": "预警",
    "panel.close": "关闭", "panel.report": "报告", "panel.classification": "分类", "panel.confidence": "置信度",
    "panel.reasons": "依据词", "panel.facts": "提取事实", "panel.grade": "等级", "panel.rule": "分级规则",
    "panel.basis": "依据", "panel.override": "调整等级", "panel.override_reason": "调整原因",
    "panel.apply": "确定", "panel.status": "状态", "panel.transition": "变更状态", "panel.plans": "匹配预案",
    "panel.activate": "启动", "panel.activated": "已启动", "panel.score": "匹配度", "panel.tasks": "任务",
    "panel.due": "截止", "panel.overdue": "逾期", "panel.recommendations": "推荐单位", "panel.dispatch": "派遣",
    "panel.dispatch_all": "全部派遣", "panel.unmet": "未满足", "panel.dispatches": "派遣记录",
    "panel.acked": "已确认", "panel.not_acked": "未确认", "panel.ack_due": "确认期限", "panel.timeline": "时间线",
    "panel.eta": "预计到达", "panel.min": "分钟", "panel.none": "无", "panel.loading": "加载中…",
    "panel.jurisdiction": "辖区", "panel.reported_at": "报告时间", "panel.location": "位置",
    "panel.need": "需求", "panel.filled": "已满足", "panel.level": "级别", "panel.handled": "已处理", "panel.task_done": "完成",
    "fact.deaths": "死亡", "fact.missing": "失踪", "fact.injuries": "受伤", "fact.serious_injuries": "重伤",
    "fact.poisoned": "中毒", "fact.affected": "受影响", "fact.evacuated": "紧急转移安置",
    "fact.economic_loss_cny": "直接经济损失（元）", "fact.magnitude": "震级",
    "esc.title": "升级告警", "esc.empty": "没有待处理的告警", "esc.dispatch": "{unit} 未确认派遣（事件 #{incident}）",
    "esc.task": "任务逾期：{task}（事件 #{incident}）", "esc.handle": "已处理", "esc.count": "告警 {n}",
    "esc.delivery": "通知未送达：{subject}（{why}）", "esc.delivery_incident": "通知未送达：{subject}（{why}，事件 #{incident}）",
    "error.generic": "操作失败", "legend.grade": "等级颜色",
    "intake.title": "接警录入", "intake.room": "指挥中心", "intake.report": "报警内容",
    "intake.report_hint": "按报警人所述录入，如：春熙路一商铺起火，3人受伤",
    "intake.preview": "自动研判", "intake.preview_empty": "输入报警内容后显示分类、事实和等级",
    "intake.category": "类别", "intake.subtype": "子类", "intake.correct_subtype": "修正子类", "intake.auto": "自动（{name}）", "intake.auto_none": "自动",
    "intake.corrected": "已人工修正", "intake.classifier_said": "系统判断：{name}", "intake.matched": "依据词",
    "intake.facts": "事实", "intake.facts_hint": "填写数字可修正提取结果，留空则采用自动提取值",
    "intake.grade": "等级", "intake.rule": "规则", "intake.basis": "依据", "intake.no_grade": "未达分级标准",
    "intake.location": "位置", "intake.address": "地址 / 地点搜索", "intake.address_hint": "街道、路口、地标（按原样保存）",
    "intake.lonlat": "经度,纬度", "intake.lonlat_hint": "如 104.0665,30.6574", "intake.lonlat_bad": "格式应为 经度,纬度（如 104.0665,30.6574）",
    "intake.map_hint": "也可在地图上点击选点", "intake.no_location": "尚未确定位置：请搜索地点、在地图上点击或输入经纬度",
    "intake.picked": "已选位置：{name}", "intake.picked_map": "地图选点", "intake.picked_typed": "输入的经纬度",
    "intake.places_none": "未找到地点", "intake.places_off": "地点搜索暂不可用，请在地图上点击或输入经纬度",
    "intake.caller": "报警人", "intake.caller_name": "姓名", "intake.caller_phone": "回拨电话",
    "intake.callback": "报警人要求回电",
    "intake.duplicate": "可能与未结事件重复：", "intake.open_it": "查看该事件", "intake.add_note": "作为补充记录添加到该事件",
    "intake.noted": "已作为补充记录添加到事件 #{id}", "intake.submit": "提交接警", "intake.sending": "正在提交…",
    "intake.created": "已创建事件 #{id}", "intake.need_text": "请填写报警内容", "intake.clear": "清空",
    "intake.draft_restored": "已恢复未提交的草稿", "intake.address_prefix": "地址：",
    "panel.address": "地址（原文）", "panel.callback": "报警人要求回电", "panel.note": "补充记录",
    "place.street": "道路", "place.crossing": "路口", "place.place": "地名", "place.facility": "设施", "place.address": "门牌",
    "place.station": "站点", "place.jurisdiction": "辖区", "place.unit": "单位",
    "panel.photos": "现场照片",
    "field.title": "外勤终端", "field.duty_on": "开始执勤", "field.duty_off": "结束执勤",
    "field.sharing": "正在共享位置", "field.not_sharing": "未共享位置", "field.no_location": "无法获取位置",
    "field.alert": "新派遣！", "field.exercise": "演练", "field.exercise_note": "演练：这不是真实事件", "field.realert": "已超时，请立即确认！", "field.ack": "确认接收",
    "field.acked": "已确认 {time}", "field.no_dispatch": "当前没有派遣任务", "field.dispatch": "当前任务",
    "field.address": "地址", "field.distance": "距离", "field.eta": "预计", "field.status": "状态",
    "field.note": "现场记录", "field.note_placeholder": "输入现场情况…", "field.add_note": "添加记录",
    "field.photo": "拍摄现场照片", "field.photo_sent": "照片已上传", "field.photo_offline": "照片需要网络连接，请稍后再试",
    "field.queue": "待发送（{n}）", "field.queue_empty": "没有待发送的操作", "field.missed": "离线期间收到（{n}）",
    "field.offline": "离线：操作将在恢复连接后按顺序发送", "field.sent": "已发送", "field.failed": "未被接受：{why}",
    "field.q.status": "状态：{status}", "field.q.ack": "确认派遣 #{id}", "field.q.note": "记录：{text}",
    "field.ev.dispatch.created": "派遣 #{id}", "field.ev.dispatch.warning": "确认提醒 #{id}",
    "field.ev.dispatch.updated": "派遣 #{id} 更新", "field.ev.dispatch.closed": "派遣 #{id} 结束",
    "field.ev.dispatch.acknowledged": "派遣 #{id} 已确认", "field.ev.other": "{type}",
    "field.push_title": "新派遣", "field.min": "分钟", "field.km": "公里",
    "field.conn.live": "在线", "field.conn.connecting": "连接中…", "field.conn.reconnecting": "离线",
  },
  en: {
    "app.title": "Emergency Command Room",
    "login.username": "User name", "login.password": "Password", "login.submit": "Sign in",
    "login.failed": "Wrong user name or password", "login.limited": "Too many attempts; try again later",
    "login.error": "Could not sign in",
    "login.totp": "Authenticator code", "login.totp_needed": "Enter the six-digit code of your authenticator app",
    "login.totp_invalid": "The code is wrong, expired or already used",
    "login.totp_setup": "Add this key to your authenticator app:",
    "login.totp_enrol": "Your role signs in with two factors: add the key, then enter a code",
    "login.totp_on": "Two-factor sign-in is on: enter the next code to sign in",
    "admin.link": "People",
    "logout": "Sign out", "wall.toggle": "Wall screen", "wall.leave": "Leave wall screen",
    "conn.live": "live", "conn.connecting": "connecting…", "conn.reconnecting": "reconnecting, last update {time}",
    "conn.offline": "offline, last update {time}",
    "board.title": "Incidents", "board.empty": "No incident matches",
    "filter.all_categories": "All categories", "filter.all_grades": "All grades", "filter.open": "Open",
    "filter.all_statuses": "All statuses", "filter.all_jurisdictions": "All jurisdictions",
    "grade.none": "Ungraded", "grade.I": "Grade I (extraordinary)", "grade.II": "Grade II (major)",
    "grade.III": "Grade III (large)", "grade.IV": "Grade IV (ordinary)",
    "cat.natural_disaster": "Natural disaster", "cat.accident_disaster": "Accident", "cat.public_health": "Public health",
    "cat.social_security": "Social security", "cat.none": "Unclassified",
    "status.reported": "Reported", "status.verified": "Verified", "status.responding": "Responding",
    "status.contained": "Contained", "status.closed": "Closed", "status.cancelled": "Cancelled",
    "unit.available": "Available", "unit.dispatched": "Dispatched", "unit.en_route": "En route",
    "unit.on_scene": "On scene", "unit.transporting": "Transporting", "unit.at_hospital": "At hospital",
    "unit.out_of_service": "Out of service",
    "counter.open": "Open", "counter.unanswered": "Unanswered", "counter.units_available": "Units available",
    "counter.unmet": "Unmet needs", "counter.overdue": "Overdue tasks", "counter.escalated": "Escalated",
    "counter.exercises": "Exercise running",
    "warnings.title": "Warnings in force ({n})", "warnings.until": "until {time}",
    "level.red": "Red", "level.orange": "Orange", "level.yellow": "Yellow", "level.blue": "Blue",
    "age": "waiting", "exercise": "EXERCISE", "duplicate": "Possible duplicate", "duplicate.of": "Possible duplicate of #{id}",
    "layer.roads": "Roads", "layer.jurisdictions": "Jurisdictions", "layer.zones": "Hazard zones",
    "layer.units": "Units", "layer.tracks": "Tracks", "layer.incidents": "Incidents", "layer.impact": "Impact area", "layer.warnings": "Warnings",
    "panel.close": "Close", "panel.report": "Report", "panel.classification": "Classification",
    "panel.confidence": "confidence", "panel.reasons": "Matched terms", "panel.facts": "Facts",
    "panel.grade": "Grade", "panel.rule": "Grading rule", "panel.basis": "Basis", "panel.override": "Override grade",
    "panel.override_reason": "Reason", "panel.apply": "Apply", "panel.status": "Status",
    "panel.transition": "Change status", "panel.plans": "Matched plans", "panel.activate": "Activate",
    "panel.activated": "Activated", "panel.score": "score", "panel.tasks": "Tasks", "panel.due": "due",
    "panel.overdue": "overdue", "panel.recommendations": "Recommended units", "panel.dispatch": "Dispatch",
    "panel.dispatch_all": "Dispatch all", "panel.unmet": "Unmet", "panel.dispatches": "Dispatches",
    "panel.acked": "acknowledged", "panel.not_acked": "not acknowledged", "panel.ack_due": "ack due",
    "panel.timeline": "Timeline", "panel.eta": "ETA", "panel.min": "min", "panel.none": "none",
    "panel.loading": "loading…", "panel.jurisdiction": "Jurisdiction", "panel.reported_at": "Reported",
    "panel.location": "Location", "panel.need": "Need", "panel.filled": "filled", "panel.level": "Level",
    "panel.handled": "handled", "panel.task_done": "Done",
    "fact.deaths": "Deaths", "fact.missing": "Missing", "fact.injuries": "Injured", "fact.serious_injuries": "Seriously injured",
    "fact.poisoned": "Poisoned", "fact.affected": "Affected", "fact.evacuated": "Evacuated",
    "fact.economic_loss_cny": "Direct loss (CNY)", "fact.magnitude": "Magnitude",
    "esc.title": "Escalations", "esc.empty": "Nothing to handle", "esc.dispatch": "{unit} has not acknowledged (incident #{incident})",
    "esc.task": "Task overdue: {task} (incident #{incident})", "esc.handle": "Handled", "esc.count": "Alerts {n}",
    "esc.delivery": "Not delivered: {subject} ({why})", "esc.delivery_incident": "Not delivered: {subject} ({why}, incident #{incident})",
    "error.generic": "That did not work", "legend.grade": "Grade colours",
    "intake.title": "Call intake", "intake.room": "Command room", "intake.report": "Report",
    "intake.report_hint": "What the caller says, e.g. a shop on Chunxi Road is on fire, 3 injured",
    "intake.preview": "Live assessment", "intake.preview_empty": "Category, facts and grade appear as you type",
    "intake.category": "Category", "intake.subtype": "Subtype", "intake.correct_subtype": "Correct it", "intake.auto": "Automatic ({name})", "intake.auto_none": "Automatic",
    "intake.corrected": "corrected by you", "intake.classifier_said": "classifier said: {name}", "intake.matched": "Matched terms",
    "intake.facts": "Facts", "intake.facts_hint": "Type a number to correct what was read; leave empty to keep it",
    "intake.grade": "Grade", "intake.rule": "Rule", "intake.basis": "Basis", "intake.no_grade": "Below the grading thresholds",
    "intake.location": "Location", "intake.address": "Address / place search", "intake.address_hint": "Street, crossing or landmark (kept as typed)",
    "intake.lonlat": "lon,lat", "intake.lonlat_hint": "e.g. 104.0665,30.6574", "intake.lonlat_bad": "Expected lon,lat (e.g. 104.0665,30.6574)",
    "intake.map_hint": "or click the map", "intake.no_location": "No location yet: search a place, click the map or type lon,lat",
    "intake.picked": "Location: {name}", "intake.picked_map": "point on the map", "intake.picked_typed": "typed coordinates",
    "intake.places_none": "No place found", "intake.places_off": "Place search is unavailable: click the map or type lon,lat",
    "intake.caller": "Caller", "intake.caller_name": "Name", "intake.caller_phone": "Callback number",
    "intake.callback": "Caller asked to be called back",
    "intake.duplicate": "Possible duplicate of an open incident:", "intake.open_it": "Open it", "intake.add_note": "Add as a note there",
    "intake.noted": "Added as a note to incident #{id}", "intake.submit": "Log incident", "intake.sending": "Sending…",
    "intake.created": "Incident #{id} logged", "intake.need_text": "Type the report first", "intake.clear": "Clear",
    "intake.draft_restored": "Unsent draft restored", "intake.address_prefix": "Address: ",
    "panel.address": "Address (as typed)", "panel.callback": "Caller asked to be called back", "panel.note": "Note",
    "place.street": "street", "place.crossing": "crossing", "place.place": "place", "place.facility": "facility",
    "place.address": "address", "place.station": "station", "place.jurisdiction": "jurisdiction", "place.unit": "unit",
    "panel.photos": "Scene photos",
    "field.title": "Field unit", "field.duty_on": "Go on duty", "field.duty_off": "Go off duty",
    "field.sharing": "Sharing location", "field.not_sharing": "Location not shared", "field.no_location": "No location fix",
    "field.alert": "NEW DISPATCH!", "field.exercise": "EXERCISE", "field.exercise_note": "EXERCISE: not a real emergency", "field.realert": "Overdue: acknowledge now!", "field.ack": "Acknowledge",
    "field.acked": "Acknowledged {time}", "field.no_dispatch": "No current dispatch", "field.dispatch": "Current dispatch",
    "field.address": "Address", "field.distance": "Distance", "field.eta": "ETA", "field.status": "Status",
    "field.note": "Scene note", "field.note_placeholder": "What do you see…", "field.add_note": "Add note",
    "field.photo": "Photo from the scene", "field.photo_sent": "Photo sent", "field.photo_offline": "A photo needs a connection; try again later",
    "field.queue": "Queued ({n})", "field.queue_empty": "Nothing queued", "field.missed": "While offline ({n})",
    "field.offline": "Offline: actions are sent in order when the connection is back", "field.sent": "sent",
    "field.failed": "refused: {why}",
    "field.q.status": "Status: {status}", "field.q.ack": "Acknowledge dispatch #{id}", "field.q.note": "Note: {text}",
    "field.ev.dispatch.created": "Dispatch #{id}", "field.ev.dispatch.warning": "Reminder to acknowledge #{id}",
    "field.ev.dispatch.updated": "Dispatch #{id} updated", "field.ev.dispatch.closed": "Dispatch #{id} ended",
    "field.ev.dispatch.acknowledged": "Dispatch #{id} acknowledged", "field.ev.other": "{type}",
    "field.push_title": "New dispatch", "field.min": "min", "field.km": "km",
    "field.conn.live": "online", "field.conn.connecting": "connecting…", "field.conn.reconnecting": "offline",
  },
};

const KEY = "commandpost.lang";
let current = localStorage.getItem(KEY) || (navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en");
if (!(current in LABELS)) current = "en";
const listeners = new Set();

export function lang() { return current; }
export function locale() { return current === "zh" ? "zh-CN" : "en-GB"; }

export function t(key, values = {}) {
  let text = LABELS[current][key] ?? LABELS.en[key] ?? key;
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

export function setLang(next) {
  current = next in LABELS ? next : "en";
  localStorage.setItem(KEY, current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  applyStatic(document);
  for (const listener of listeners) listener(current);
}

export function onLang(listener) { listeners.add(listener); }

// A page's own labels (the admin page's, admin-labels.js), merged into the table before the page first applies it.
export function addLabels(table) {
  for (const [language, labels] of Object.entries(table)) Object.assign(LABELS[language], labels);
}

// Elements carrying data-i18n get their text from the table; the language button names the other language.
export function applyStatic(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  const toggle = root.querySelector("#lang-toggle");
  if (toggle) toggle.textContent = current === "zh" ? "English" : "中文";
}

export function bindToggle(button) {
  button.addEventListener("click", () => setLang(current === "zh" ? "en" : "zh"));
}

const timeFormats = new Map();
export function clock(at) {
  if (!at) return "";
  const key = current + ":time";
  if (!timeFormats.has(key)) {
    timeFormats.set(key, new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }));
  }
  return timeFormats.get(key).format(new Date(at));
}

export function dateTime(at) {
  if (!at) return "";
  return new Date(at).toLocaleString(locale(), { hour12: false, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function number(value) {
  return typeof value === "number" ? value.toLocaleString(locale()) : String(value ?? "");
}

// "3:07" or "1:02:09" since ``at``.
export function age(at, now = Date.now()) {
  const s = Math.max(0, Math.floor((now - new Date(at).getTime()) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function name(thing) {
  if (!thing) return "";
  if (current === "en") return thing.name_en || thing.name || "";
  return thing.name_zh || thing.name || thing.name_en || "";
}
