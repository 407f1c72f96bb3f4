// The UI's words in Simplified Chinese and English. Keys are checked by the compiler: every
// language must define every string.

import type { ClientKind, KeychainProblem, Language } from "./ipc.js";

const en = {
  appName: "MeetEasy Console",
  settings: "Settings",
  back: "Back",
  checkingSession: "Checking your session…",
  offlineTitle: "Can't reach the server",
  offlineBody: (server: string, seconds: number) =>
    `${server} is not answering. Trying again in ${seconds} s…`,
  offlineRetrying: (server: string) => `${server} is not answering. Trying again…`,
  tabScan: "Scan with WeChat",
  tabPassword: "Email or phone",
  scanTitle: "Scan with WeChat",
  scanHint: "Open WeChat, tap + › Scan, and point it at this code.",
  scanWaiting: "Waiting for a scan",
  scanLoadingQr: "Preparing a code…",
  scanScanned: (name: string) => `${name} scanned — confirm on your phone`,
  scanDeclined: "The login was declined on the phone. Here is a fresh code.",
  scanNotOrganizer: "This WeChat account has no organizer access. Ask an administrator, or scan with another account.",
  scanExpired: "The code expired before it was confirmed. Here is a fresh one.",
  qrRefreshesIn: (seconds: number) => `Code refreshes automatically in ${seconds} s`,
  qrAlt: "Login QR code for the MeetEasy mini program",
  sessionExpired: "Your session has expired. Please log in again.",
  sessionRevoked: "You were logged out from another device. Please log in again.",
  sessionInvalid: "Your saved session is no longer valid. Please log in again.",
  loginLabel: "Email or phone",
  passwordLabel: "Password",
  passwordSubmit: "Log in",
  passwordBusy: "Logging in…",
  invalidCredentials: "Wrong email, phone or password.",
  tooManyAttempts: "Too many attempts. Wait a moment and try again.",
  notOrganizerPassword: "This account has no organizer access.",
  serverUnreachable: "The server could not be reached. Check the server URL in Settings.",
  unexpected: (message: string) => `Something went wrong: ${message}`,
  homeGreeting: "Logged in as",
  roles: "Roles",
  sessionEnds: "Session ends",
  server: "Server",
  openInBrowser: "Open in browser",
  openInBrowserHint: "Opens the MeetEasy site in your browser, already logged in.",
  openedInBrowser: "Opened in your browser.",
  logout: "Log out",
  loggedOut: "You have logged out.",
  loggedOutLocally: "Logged out on this computer. The server could not be told; the session ends when it expires.",
  keychainNotCleared: "The system keychain could not delete the saved session.",
  devicesTitle: "Devices",
  devicesHint: "Where your account is logged in right now.",
  devicesLoading: "Loading your devices…",
  clientKind: (kind: ClientKind) => clientKinds.en[kind],
  unnamedDevice: "Unnamed device",
  thisDevice: "This device",
  deviceIp: "IP",
  deviceStarted: "Started",
  deviceLastSeen: "Last seen",
  endSession: "Log out",
  endSessionLabel: (device: string) => `Log out ${device}`,
  endedSession: (device: string) => `${device} was logged out.`,
  sessionAlreadyGone: "That session had already ended.",
  endOthers: "Log out everywhere else",
  endOthersConfirm: (count: number) =>
    count === 1
      ? "Log out 1 other session? That device will have to log in again."
      : `Log out ${count} other sessions? Those devices will have to log in again.`,
  endOthersYes: (count: number) => (count === 1 ? "Log out 1 session" : `Log out ${count} sessions`),
  cancel: "Cancel",
  endedOthers: (count: number) =>
    count === 0 ? "No other sessions were left to log out." : count === 1 ? "1 other session was logged out." : `${count} other sessions were logged out.`,
  memoryOnly: (problem: KeychainProblem) =>
    `${keychainProblem.en[problem]} Your session is kept in memory for this run only: you will need to log in again next time.`,
  settingsTitle: "Settings",
  serverUrl: "Server URL",
  serverUrlHint: "https:// address of your MeetEasy server. Plain http:// is allowed only for this computer.",
  serverFromEnv: "Set by MEETEASY_SERVER for this run.",
  language: "Language",
  save: "Save",
  saved: "Saved.",
  invalidServerUrl: (message: string) => `Check the server URL: ${message}`,
};

type Strings = typeof en;

const zh: Strings = {
  appName: "MeetEasy 控制台",
  settings: "设置",
  back: "返回",
  checkingSession: "正在检查登录状态…",
  offlineTitle: "无法连接服务器",
  offlineBody: (server, seconds) => `${server} 没有响应，${seconds} 秒后重试…`,
  offlineRetrying: (server) => `${server} 没有响应，正在重试…`,
  tabScan: "微信扫码",
  tabPassword: "邮箱或手机号",
  scanTitle: "使用微信扫码登录",
  scanHint: "打开微信，点击右上角 + › 扫一扫，对准此二维码。",
  scanWaiting: "等待扫码",
  scanLoadingQr: "正在生成二维码…",
  scanScanned: (name) => `${name} 已扫码，请在手机上确认`,
  scanDeclined: "已在手机上拒绝登录。已为你换了一个新二维码。",
  scanNotOrganizer: "该微信账号没有组织者权限。请联系管理员，或换一个账号扫码。",
  scanExpired: "二维码在确认前已过期，已为你换了一个新二维码。",
  qrRefreshesIn: (seconds) => `二维码将在 ${seconds} 秒后自动刷新`,
  qrAlt: "MeetEasy 小程序登录二维码",
  sessionExpired: "登录已过期，请重新登录。",
  sessionRevoked: "你已在其他设备上被退出登录，请重新登录。",
  sessionInvalid: "保存的登录已失效，请重新登录。",
  loginLabel: "邮箱或手机号",
  passwordLabel: "密码",
  passwordSubmit: "登录",
  passwordBusy: "正在登录…",
  invalidCredentials: "邮箱、手机号或密码错误。",
  tooManyAttempts: "尝试次数过多，请稍后再试。",
  notOrganizerPassword: "该账号没有组织者权限。",
  serverUnreachable: "无法连接服务器。请在设置中检查服务器地址。",
  unexpected: (message) => `出错了：${message}`,
  homeGreeting: "当前登录",
  roles: "角色",
  sessionEnds: "登录有效期至",
  server: "服务器",
  openInBrowser: "在浏览器中打开",
  openInBrowserHint: "在浏览器中打开 MeetEasy 网站，无需再次登录。",
  openedInBrowser: "已在浏览器中打开。",
  logout: "退出登录",
  loggedOut: "你已退出登录。",
  loggedOutLocally: "已在本机退出。无法通知服务器，该登录将在到期后失效。",
  keychainNotCleared: "系统钥匙串未能删除已保存的登录。",
  devicesTitle: "登录设备",
  devicesHint: "你的账号当前在这些地方登录。",
  devicesLoading: "正在加载登录设备…",
  clientKind: (kind) => clientKinds["zh-CN"][kind],
  unnamedDevice: "未命名设备",
  thisDevice: "本机",
  deviceIp: "IP",
  deviceStarted: "登录时间",
  deviceLastSeen: "最近活动",
  endSession: "退出登录",
  endSessionLabel: (device) => `退出 ${device} 的登录`,
  endedSession: (device) => `${device} 已退出登录。`,
  sessionAlreadyGone: "该登录已经结束。",
  endOthers: "退出其他所有设备",
  endOthersConfirm: (count) => `退出其他 ${count} 个登录？这些设备需要重新登录。`,
  endOthersYes: (count) => `退出 ${count} 个登录`,
  cancel: "取消",
  endedOthers: (count) => (count === 0 ? "没有其他需要退出的登录。" : `已退出其他 ${count} 个登录。`),
  memoryOnly: (problem) =>
    `${keychainProblem["zh-CN"][problem]}本次登录只保存在内存中，下次启动需要重新登录。`,
  settingsTitle: "设置",
  serverUrl: "服务器地址",
  serverUrlHint: "MeetEasy 服务器的 https:// 地址。http:// 仅允许用于本机。",
  serverFromEnv: "本次运行由 MEETEASY_SERVER 指定。",
  language: "语言",
  save: "保存",
  saved: "已保存。",
  invalidServerUrl: (message) => `请检查服务器地址：${message}`,
};

const clientKinds: Record<Language, Record<ClientKind, string>> = {
  en: { console: "Console", h5: "Browser", miniprogram: "Mini program" },
  "zh-CN": { console: "控制台", h5: "浏览器", miniprogram: "小程序" },
};

const keychainProblem: Record<Language, Record<KeychainProblem, string>> = {
  en: {
    not_available: "No system keychain is available.",
    locked: "The system keychain is locked.",
    timed_out: "The system keychain did not answer.",
    failed: "The system keychain failed.",
  },
  "zh-CN": {
    not_available: "系统钥匙串不可用。",
    locked: "系统钥匙串已锁定。",
    timed_out: "系统钥匙串没有响应。",
    failed: "系统钥匙串出错。",
  },
};

const tables: Record<Language, Strings> = { en, "zh-CN": zh };

export let t: Strings = en;
export let currentLanguage: Language = "en";

export function setLanguage(language: Language): void {
  currentLanguage = language;
  t = tables[language];
  document.documentElement.lang = language;
}

export function formatDateTime(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toLocaleString(currentLanguage, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

export function roleName(role: string): string {
  const names: Record<Language, Record<string, string>> = {
    en: { organizer: "Organizer", admin: "Administrator" },
    "zh-CN": { organizer: "组织者", admin: "管理员" },
  };
  return names[currentLanguage][role] ?? role;
}
