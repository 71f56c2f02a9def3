/** UI strings in English and Korean, chosen by the browser's language. */

export interface Strings {
  lang: string;
  title: string;
  enrollTitle: string;
  enrollHelp: string;
  enrollmentCode: string;
  enroll: string;
  enrolling: string;
  enrollFailed: (reason: string) => string;
  signedOut: (reason: string) => string;
  decommissioned: string;
  revoked: string;
  connecting: string;
  connected: string;
  reconnecting: string;
  offlineSince: (hhmm: string) => string;
  offlineBanner: (hhmm: string) => string;
  /** `orders:expired`: orders that aged out before this screen could show them. */
  ordersExpired: (count: number) => string;
  dismiss: string;
  bump: string;
  recall: string;
  recallNothing: string;
  mute: string;
  unmute: string;
  allDay: string;
  noTickets: string;
  order: (orderId: string) => string;
  rush: string;
  station: string;
  age: string;
  keyboardHelp: string;
  settingsFailed: (reason: string) => string;
  display: (id: string) => string;
}

const en: Strings = {
  lang: 'en',
  title: 'Orderwire display',
  enrollTitle: 'Set up this display',
  enrollHelp: 'Enter the enrollment code your manager created for this screen.',
  enrollmentCode: 'Enrollment code',
  enroll: 'Enroll',
  enrolling: 'Enrolling…',
  enrollFailed: (reason) => `Enrollment failed: ${reason}`,
  signedOut: (reason) => `This display was signed out (${reason}). Enter a new enrollment code.`,
  decommissioned: 'This display was removed by an operator',
  revoked: 'its access was revoked',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offlineSince: (hhmm) => `Offline since ${hhmm}`,
  offlineBanner: (hhmm) => `No connection since ${hhmm}: new orders cannot reach this screen. Check the network.`,
  ordersExpired: (count) =>
    count === 1
      ? '1 order expired while this screen was offline. Check with the front of house.'
      : `${count} orders expired while this screen was offline. Check with the front of house.`,
  dismiss: 'Dismiss',
  bump: 'Bump',
  recall: 'Recall',
  recallNothing: 'Nothing to recall',
  mute: 'Mute',
  unmute: 'Unmute',
  allDay: 'All day',
  noTickets: 'No open orders',
  order: (orderId) => `Order ${orderId}`,
  rush: 'RUSH',
  station: 'Station',
  age: 'Age',
  keyboardHelp: '← → or 1–9 select · Enter bump · R recall',
  settingsFailed: (reason) => `The display cannot start: ${reason}`,
  display: (id) => `Display ${id}`,
};

const ko: Strings = {
  lang: 'ko',
  title: 'Orderwire 디스플레이',
  enrollTitle: '디스플레이 설정',
  enrollHelp: '관리자가 이 화면용으로 만든 등록 코드를 입력하세요.',
  enrollmentCode: '등록 코드',
  enroll: '등록',
  enrolling: '등록 중…',
  enrollFailed: (reason) => `등록 실패: ${reason}`,
  signedOut: (reason) => `이 디스플레이는 로그아웃되었습니다 (${reason}). 새 등록 코드를 입력하세요.`,
  decommissioned: '운영자가 이 디스플레이를 삭제했습니다',
  revoked: '접근 권한이 취소되었습니다',
  connecting: '연결 중…',
  connected: '연결됨',
  reconnecting: '다시 연결 중…',
  offlineSince: (hhmm) => `${hhmm}부터 오프라인`,
  offlineBanner: (hhmm) => `${hhmm}부터 연결이 끊겼습니다. 새 주문이 이 화면에 표시되지 않습니다. 네트워크를 확인하세요.`,
  ordersExpired: (count) => `이 화면이 오프라인인 동안 주문 ${count}건이 만료되었습니다. 홀에 확인하세요.`,
  dismiss: '닫기',
  bump: '완료',
  recall: '되돌리기',
  recallNothing: '되돌릴 주문이 없습니다',
  mute: '소리 끄기',
  unmute: '소리 켜기',
  allDay: '전체 수량',
  noTickets: '대기 중인 주문이 없습니다',
  order: (orderId) => `주문 ${orderId}`,
  rush: '긴급',
  station: '스테이션',
  age: '경과',
  keyboardHelp: '← → 또는 1–9 선택 · Enter 완료 · R 되돌리기',
  settingsFailed: (reason) => `디스플레이를 시작할 수 없습니다: ${reason}`,
  display: (id) => `디스플레이 ${id}`,
};

/** Korean for `ko`, `ko-KR`, …; English otherwise. */
export function pickStrings(languages: readonly string[]): Strings {
  for (const l of languages) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'ko') return ko;
    if (base === 'en') return en;
  }
  return en;
}

/** HH:MM in the display's local time (24-hour, as kitchens read it). */
export function hhmm(epochMs: number): string {
  const d = new Date(epochMs);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
